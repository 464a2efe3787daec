import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'cariosan:public';

/** Marks a route (or a whole controller) as reachable without a bearer token. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

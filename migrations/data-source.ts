import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions, loadConfig } from '@cariosan/core';
import { SCHEMA } from './index';

/** For the TypeORM CLI (npm run migration:*): the configured database, compiled schema; says what it applied or reverted. */
export default new DataSource(
  dataSourceOptions(loadConfig(process.env), SCHEMA, { reportSchemaSteps: true }),
);

import { Transform } from 'class-transformer';
import { registerDecorator, ValidateIf, ValidationOptions } from 'class-validator';
import { isSnowflake } from '../ids/ids';

/** Length in Unicode code points, as the contract counts it (not UTF-16 units). */
export function codePoints(value: string): number {
  // The string iterator walks code points (a surrogate pair is one step).
  return [...value].length;
}

export function CodePointLength(min: number, max: number, options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'codePointLength',
      target: target.constructor,
      propertyName: propertyName as string,
      constraints: [min, max],
      options: { message: `$property must be ${min} to ${max} characters long`, ...options },
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && codePoints(value) >= min && codePoints(value) <= max,
      },
    });
}

/** Normalises strings to NFC (and optionally trims) before validation; other types pass through to fail there. */
export function NormalizeText(opts: { trim?: boolean } = {}): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => {
    if (typeof value !== 'string') return value;
    const nfc = value.normalize('NFC');
    return opts.trim ? nfc.trim() : nfc;
  });
}

/**
 * Like `@IsOptional()` but only for an absent property: `null` is still validated (and
 * refused by `@IsString()`), instead of reaching a NOT NULL column as a 500.
 */
export function OptionalNotNull(): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined);
}

/**
 * An id in a body: a decimal Snowflake that fits a Postgres bigint. A bare `/^\d{1,19}$/` lets
 * `9999999999999999999` through to the database, which refuses it as out of range (a 500).
 * With `{ each: true }` it checks every entry of an array.
 */
export function IsSnowflake(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isSnowflake',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `$property must be an id (a decimal string of at most 19 digits)`, ...options },
      validator: { validate: (value: unknown) => typeof value === 'string' && isSnowflake(value) },
    });
}

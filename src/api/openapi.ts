/** Small builders for the structural OpenAPI v3 schema that the CRD (and ajv) use. */

/** A CEL rule the apiserver checks (x-kubernetes-validations); the CLI states the same rule in TypeScript. */
export interface ValidationRule {
  /** A CEL expression over `self`, true when the value is valid. */
  rule: string;
  /** Shown when the rule is false: what is wrong and how to fix it. */
  message: string;
  /** Where the error is reported, relative to `self` (e.g. .rotationDays); default: `self`'s own path. */
  fieldPath?: string;
}

export interface OpenApiSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  enum?: readonly (string | number | boolean)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  format?: string;
  default?: unknown;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

type Extra = Omit<OpenApiSchema, 'type' | 'description'>;

export const str = (description: string, extra: Extra = {}): OpenApiSchema => ({ type: 'string', description, ...extra });
export const int = (description: string, extra: Extra = {}): OpenApiSchema => ({ type: 'integer', description, ...extra });
export const bool = (description: string, extra: Extra = {}): OpenApiSchema => ({ type: 'boolean', description, ...extra });

export const oneOf = (description: string, values: readonly string[], extra: Extra = {}): OpenApiSchema =>
  str(description, { enum: values, ...extra });

export const obj = (
  description: string,
  properties: Record<string, OpenApiSchema>,
  required: string[] = [],
  extra: Extra = {},
): OpenApiSchema => ({
  type: 'object',
  description,
  properties,
  ...(required.length > 0 ? { required } : {}),
  ...extra,
});

export const list = (description: string, items: OpenApiSchema, extra: Extra = {}): OpenApiSchema => ({
  type: 'array',
  description,
  items,
  ...extra,
});

export const stringMap = (description: string, valueDescription: string, extra: Extra = {}, valueExtra: Extra = {}): OpenApiSchema => ({
  type: 'object',
  description,
  additionalProperties: str(valueDescription, { maxLength: 4096, ...valueExtra }),
  ...extra,
});

/** A CEL string literal holding exactly `text` (single-quoted; backslashes and quotes escaped). */
export function celString(text: string): string {
  if (/[\x00-\x1f]/.test(text)) throw new Error(`control character in a CEL literal: ${JSON.stringify(text)}`);
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** A CEL list literal of strings. */
export const celList = (items: readonly string[]): string => `[${items.map(celString).join(', ')}]`;

/** A CEL rule with its message (and where to report it). */
export const cel = (rule: string, message: string, fieldPath?: string): ValidationRule => ({ rule, message, ...(fieldPath ? { fieldPath } : {}) });

/**
 * The apiserver prunes or rejects unknown fields of a structural schema; ajv needs that said explicitly,
 * so every object that lists its properties is closed here (the CRD itself may not carry additionalProperties beside properties).
 */
export function closeObjects(schema: OpenApiSchema): OpenApiSchema {
  const out: OpenApiSchema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, closeObjects(v)]));
    out.additionalProperties = false;
  }
  if (schema.items) out.items = closeObjects(schema.items);
  if (typeof schema.additionalProperties === 'object') out.additionalProperties = closeObjects(schema.additionalProperties);
  return out;
}

/** Small builders for the structural OpenAPI v3 schema that the CRD (and ajv) use. */

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

export const stringMap = (description: string, valueDescription: string, extra: Extra = {}): OpenApiSchema => ({
  type: 'object',
  description,
  additionalProperties: str(valueDescription, { maxLength: 4096 }),
  ...extra,
});

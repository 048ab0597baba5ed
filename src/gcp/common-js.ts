/**
 * A CommonJS package's exports, loaded with import(): Node gives them as named exports too, the esbuild bundle
 * (scripts/bundle.mjs) only as the default export when it cannot see them statically (pubsub's and logging's
 * index re-export through getters).
 */
export function commonJs<T extends object>(module: T): T {
  return (module as { default?: T }).default ?? module;
}

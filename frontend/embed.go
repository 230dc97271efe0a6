// Package frontend embeds the built browser UI so the server binary serves it without
// Node at run time.
package frontend

import "embed"

// Dist holds the built UI (frontend/dist).
//
//go:embed dist
var Dist embed.FS

// GraphQLExplorer is the page GET /api/t/{tenant}/graphql answers a browser: a query
// editor, variables, the result and the schema, with no script from elsewhere.
//
//go:embed graphql/explorer.html
var GraphQLExplorer []byte

// FunctionTypes is strata.d.ts: the types of a function's ctx, for editors.
//
//go:embed src/lib/strata.d.ts
var FunctionTypes []byte

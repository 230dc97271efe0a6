// Package frontend embeds the built browser UI so the server binary serves it without
// Node at run time.
package frontend

import "embed"

// Dist holds the built UI (frontend/dist).
//
//go:embed dist
var Dist embed.FS

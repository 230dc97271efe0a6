// Package data embeds the declarative JSON applied through the migration engine:
// snapshot.json holds the system tables every tenant has.
package data

import _ "embed"

// Snapshot is data/snapshot.json.
//
//go:embed snapshot.json
var Snapshot []byte

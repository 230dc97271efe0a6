// Package seeds embeds the default rows every new tenant starts with.
package seeds

import _ "embed"

// Roles is seeds/roles.json: the built-in roles.
//
//go:embed roles.json
var Roles []byte

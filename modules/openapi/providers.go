package openapi

// providerPaths adds sign-in through OAuth2 / OpenID Connect providers: their
// configuration (admins; the client secret write-only), the public list, and the flow
// (start, callback, the two-factor step).
func providerPaths(paths obj) {
	str := obj{"type": "string"}
	list := func(items obj) obj { return obj{"type": "array", "items": items} }
	public := func(o obj) obj { o["security"] = []any{}; return o }
	pathParam := func(name, description string) obj {
		return obj{"name": name, "in": "path", "required": true, "description": description, "schema": str}
	}
	fields := obj{
		"label":             str,
		"issuer":            obj{"type": "string", "format": "uri", "description": "OpenID Connect: the issuer, found by discovery (or give the three endpoints below)"},
		"authorization_url": obj{"type": "string", "format": "uri", "description": "Plain OAuth2"},
		"token_url":         obj{"type": "string", "format": "uri", "description": "Plain OAuth2"},
		"userinfo_url":      obj{"type": "string", "format": "uri", "description": "Plain OAuth2: read with the access token; the subject is sub (or id)"},
		"client_id":         str,
		"scopes":            obj{"type": "array", "maxItems": 20, "items": str, "description": "Default for OpenID Connect: openid email profile"},
		"role_claim":        obj{"type": "string", "description": "The claim whose values role_map maps (a dotted path reaches into objects)"},
		"role_map":          obj{"type": "object", "additionalProperties": obj{"type": "string", "format": "uuid"}, "description": "Claim value → role id, for users created by a sign-in"},
		"default_role":      obj{"type": "string", "description": "A role id for users created by a sign-in that role_map does not place; empty: the authenticated role"},
		"allow_signup":      obj{"type": "boolean", "description": "Create a user at a first sign-in (else only existing users sign in)"},
		"enabled":           obj{"type": "boolean"},
	}
	input := obj{"type": "object", "additionalProperties": false, "properties": obj{
		"name":          obj{"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$", "description": "Set at creation; the provider's address"},
		"client_secret": obj{"type": "string", "writeOnly": true, "description": "Sealed; never answered (client_secret_set says whether one is kept); \"\" removes it"},
	}}
	read := obj{"type": "object", "properties": obj{
		"id": obj{"type": "string", "format": "uuid"}, "name": str, "kind": obj{"type": "string", "enum": []string{"oidc", "oauth2"}},
		"client_secret_set": obj{"type": "boolean"}, "callback_url": obj{"type": "string", "format": "uri", "description": "The redirect URI to register at the provider"},
		"created_at": obj{"type": "string", "format": "date-time"}, "updated_at": obj{"type": "string", "format": "date-time"}}}
	for k, v := range fields {
		input["properties"].(obj)[k] = v
		read["properties"].(obj)[k] = v
	}
	tokens := obj{"type": "object", "properties": obj{"access_token": str, "refresh_token": str, "expires": obj{"type": "integer", "description": "ms"}}}
	found := obj{"302": obj{"description": "To the provider, or to the redirect with the answer in its fragment",
		"headers": obj{"Location": obj{"schema": obj{"type": "string", "format": "uri"}}}}}
	provider := pathParam("provider", "The provider's name")

	paths["/auth/providers"] = obj{"get": public(op("sign_in_providers", "The enabled sign-in providers, for a sign-in screen's buttons", nil, nil,
		obj{"200": okData(list(obj{"type": "object", "properties": obj{"name": str, "label": str}}), false)}))}
	paths["/auth/login/{provider}"] = obj{"parameters": []any{provider}, "get": public(op("provider_sign_in",
		"Start a sign-in through the provider (state, nonce, PKCE S256; a cookie binds it to the browser). The redirect must be on auth_redirect_origins, else 400 and no redirect",
		[]any{obj{"name": "redirect", "in": "query", "required": true, "description": "The app's URL, without a fragment: the answer goes there in the fragment", "schema": obj{"type": "string", "format": "uri"}}},
		nil, found))}
	paths["/auth/login/{provider}/callback"] = obj{"parameters": []any{provider}, "get": public(op("provider_callback",
		"Where the provider sends the browser back: on to the redirect with #access_token=…&refresh_token=…&expires=… (ms), #otp_ticket=…&provider=… (two-factor on), or #error=…&error_description=…; a missing, unknown, used, expired or other browser's state is 400",
		[]any{obj{"name": "code", "in": "query", "schema": str}, obj{"name": "state", "in": "query", "schema": str},
			obj{"name": "error", "in": "query", "schema": str}, obj{"name": "error_description", "in": "query", "schema": str}}, nil, found))}
	paths["/auth/login/{provider}/otp"] = obj{"parameters": []any{provider}, "post": public(op("provider_otp",
		"Trade a sign-in's two-factor ticket and a one-time password (or recovery code) for tokens; 401 INVALID_OTP for a wrong code (throttled), INVALID_TOKEN for a used or expired ticket",
		nil, jsonBody(obj{"type": "object", "required": []string{"ticket", "otp"}, "properties": obj{"ticket": str, "otp": str}}), obj{"200": okData(tokens, false)}))}
	paths["/settings/providers"] = obj{
		"get":  op("list_providers", "The tenant's sign-in providers (admins)", nil, nil, obj{"200": okData(list(read), false)}),
		"post": op("create_provider", "Add a sign-in provider (admins)", nil, jsonBody(input), obj{"201": okData(read, false)})}
	paths["/settings/providers/{name}"] = obj{"parameters": []any{pathParam("name", "The provider's name")},
		"patch": op("update_provider", "Change a sign-in provider (admins); pointed at another issuer or endpoints, its links to users are removed", nil,
			jsonBody(input), obj{"200": okData(read, false)}),
		"delete": op("delete_provider", "Remove a sign-in provider and its links to users (admins)", nil, nil, obj{"204": obj{"description": "Deleted"}})}
}

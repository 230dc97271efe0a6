// Command mockoidc runs an OpenID Connect provider for the UI's end-to-end walk
// (frontend/e2e): github.com/oauth2-proxy/mockoidc on a free port of 127.0.0.1, which
// signs in its default user (jane.doe@example.com, email verified) at once. It prints
// one line of JSON, {issuer, client_id, client_secret}, and runs until its standard
// input closes (the walk ending, or dying, ends it too).
package main

import (
	"encoding/json"
	"io"
	"log"
	"os"

	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	m, err := mockoidc.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]string{"issuer": m.Issuer(), "client_id": m.ClientID, "client_secret": m.ClientSecret}); err != nil {
		log.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}

package settings

import (
	"slices"
	"testing"
)

func TestOriginList(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string // nil: refused
	}{
		{[]string{"https://app.example.com"}, []string{"https://app.example.com"}},
		{[]string{" https://App.Example.com/ ", "http://localhost:5173", "*"}, []string{"https://app.example.com", "http://localhost:5173", "*"}},
		{[]string{"https://a.example.com", "https://A.example.com/"}, []string{"https://a.example.com"}},
		{[]string{}, []string{}},
		{[]string{"not a url"}, nil},
		{[]string{"app.example.com"}, nil},
		{[]string{"ftp://app.example.com"}, nil},
		{[]string{"https://app.example.com/path"}, nil},
		{[]string{"https://app.example.com?x=1"}, nil},
		{[]string{"https://user@app.example.com"}, nil},
		{[]string{"https://"}, nil},
	} {
		got, err := OriginList(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("%q: accepted as %q", c.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
	many := make([]string, MaxCORSOrigins+1)
	for i := range many {
		many[i] = "*"
	}
	if _, err := OriginList(many); err == nil {
		t.Error("more than the bound of origins accepted")
	}
}

func TestImportHosts(t *testing.T) {
	hosts, err := HostList("files_import_hosts", []string{"Files.Example.com", "*.cdn.example.org", "files.example.com"})
	if err != nil || len(hosts) != 2 {
		t.Fatalf("%v %v", hosts, err)
	}
	st := Settings{FilesImportHosts: hosts}
	for host, ok := range map[string]bool{
		"files.example.com": true, "FILES.example.com.": true, "a.cdn.example.org": true, "cdn.example.org": false,
		"evilcdn.example.org": false, "example.com": false, "files.example.com.evil.net": false,
	} {
		if st.AllowsImportFrom(host) != ok {
			t.Errorf("%s: want %v", host, ok)
		}
	}
	for _, bad := range []string{"http://x.com", "x.com/path", "*", "a..b", "user@x.com", "x.com:80"} {
		if _, err := HostList("files_import_hosts", []string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWebhookHosts(t *testing.T) {
	hosts, err := HostPortList("webhook_hosts", []string{"Hooks.Example.com", "hooks.example.com", "127.0.0.1:8080", "*.cdn.example.com", "[::1]:9000", "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"hooks.example.com", "127.0.0.1:8080", "*.cdn.example.com", "[::1]:9000", "10.0.0.5"}; !slices.Equal(hosts, want) {
		t.Fatalf("hosts = %v, want %v", hosts, want)
	}
	for _, bad := range []string{"", "http://x.com", "x.com:0", "x.com:70000", "x.com:", "x.com:08", "[::1", "[::1]x", "a b", "x.com/path", "*.*.com"} {
		if _, err := HostPortList("webhook_hosts", []string{bad}); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	st := Settings{WebhookHosts: hosts}
	for _, c := range []struct {
		host, port     string
		allowed, named bool
	}{
		{"hooks.example.com", "443", true, true},
		{"HOOKS.example.com.", "80", true, true},
		{"127.0.0.1", "8080", true, true},
		{"127.0.0.1", "8081", false, false},
		{"a.cdn.example.com", "443", true, false},
		{"cdn.example.com", "443", false, false},
		{"::1", "9000", true, true},
		{"10.0.0.5", "1234", true, true},
		{"evil.com", "443", false, false},
	} {
		allowed, named := st.WebhookTarget(c.host, c.port)
		if allowed != c.allowed || named != c.named {
			t.Errorf("WebhookTarget(%s, %s) = %v, %v; want %v, %v", c.host, c.port, allowed, named, c.allowed, c.named)
		}
	}
}

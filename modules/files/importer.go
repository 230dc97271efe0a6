package files

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"syscall"
	"time"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/records"
)

// ImportTimeout bounds one import, from the first byte asked for to the last stored.
const ImportTimeout = 2 * time.Minute

// errPrivate refuses a connection to an address inside the platform.
var errPrivate = errors.New("the address is private to this network")

// publicOnly refuses, at the moment of connecting (after name resolution, so a name
// cannot be made to point inside later), loopback, private, link-local and other
// special addresses: a host a tenant admin allows must not lead to the platform's own
// services (the database, cloud metadata).
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if !PublicAddress(ap.Addr()) {
		return errPrivate
	}
	return nil
}

// PublicAddress reports whether ip is one the outbound client may connect to: not
// loopback, private, link-local, multicast, unspecified or carrier-grade NAT.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || !ip.IsGlobalUnicast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip))
}

// OutboundDialer connects to addresses a tenant chose (an import's host, a function's
// fetch, a mail server): public addresses only unless private is set.
func OutboundDialer(private bool) *net.Dialer {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !private {
		dialer.Control = publicOnly
	}
	return dialer
}

// IsPrivateAddress reports whether err is OutboundDialer's refusal of a private address.
func IsPrivateAddress(err error) bool { return errors.Is(err, errPrivate) }

// importClient fetches imports: public addresses only (unless the node allows private
// ones), only allowed hosts through redirects, a bounded time.
func (s *Service) importClient(allowed func(host string) bool) *http.Client {
	return OutboundClient(s.ImportPrivate, ImportTimeout, allowed)
}

// OutboundClient is an HTTP client for requests a tenant chose the address of (imports,
// a function's fetch): public addresses only unless private is set, only allowed hosts
// through at most three redirects, at most timeout in all.
func OutboundClient(private bool, timeout time.Duration, allowed func(host string) bool) *http.Client {
	transport := &http.Transport{DialContext: OutboundDialer(private).DialContext, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, MaxIdleConns: 1, IdleConnTimeout: time.Second, Proxy: nil}
	return &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("too many redirects")
		}
		if !allowed(req.URL.Hostname()) || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
			return fmt.Errorf("redirected to %s, which is not an allowed host", req.URL.Host)
		}
		return nil
	}}
}

// Import fetches a file from a URL on one of the tenant's allowed hosts
// (files_import_hosts) and stores it as an upload with data as its fields.
func (s *Service) Import(ctx context.Context, sc *records.Scope, rawURL string, data map[string]any) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", apierr.InvalidPayload("url", "url must be an http or https URL without credentials")
	}
	st, err := s.Settings.Get(ctx, sc.TenantID, sc.DB)
	if err != nil {
		return "", err
	}
	if !st.AllowsImportFrom(u.Hostname()) {
		return "", apierr.Forbidden("files may not be imported from %s: the setting files_import_hosts lists the hosts that may", u.Hostname()).With("field", "url")
	}
	// The caller's create rule is checked before anything is fetched.
	if data == nil {
		data = map[string]any{}
	}
	if _, err := s.admit(sc, access.Create, data); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, ImportTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", apierr.InvalidPayload("url", "url: %v", err)
	}
	req.Header.Set("User-Agent", "Strata file import")
	resp, err := s.importClient(st.AllowsImportFrom).Do(req)
	if err != nil {
		reason := err.Error()
		if errors.Is(err, errPrivate) {
			reason = "the host resolves to an address inside this network"
		}
		return "", apierr.New(http.StatusBadGateway, "SERVICE_UNAVAILABLE", "could not fetch %s: %s", u.Redacted(), reason).With("field", "url")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", apierr.New(http.StatusBadGateway, "SERVICE_UNAVAILABLE", "fetching %s answered %s", u.Redacted(), resp.Status).With("field", "url")
	}
	name := path.Base(resp.Request.URL.Path)
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		name = params["filename"]
	}
	if name == "/" || name == "." {
		name = resp.Request.URL.Hostname()
	}
	return s.Create(ctx, sc, Upload{Fields: data, Filename: name, Body: resp.Body})
}

package gateway

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"
)

// TestPartnerAPIHTTP2: the partner API negotiates HTTP/2 by ALPN (issue
// 10, item 9) for a partner's client and for this node's own delivery
// client, with mutual TLS still enforced on the HTTP/2 connection.
func TestPartnerAPIHTTP2(t *testing.T) {
	in, vn, xx := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	url := p.vn.PartnerURL + "/profile"

	h2client := func(id *DevIdentity) *http.Client {
		c := partnerClient(id, vn.PKI.Root.Cert)
		c.Transport.(*http.Transport).ForceAttemptHTTP2 = true
		return c
	}
	get := func(c *http.Client) (*http.Response, error) {
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	t.Run("a registered partner gets HTTP/2", func(t *testing.T) {
		resp, err := get(h2client(in))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || resp.TLS.NegotiatedProtocol != "h2" {
			t.Fatalf("got %d %s (ALPN %q)", resp.StatusCode, resp.Proto, resp.TLS.NegotiatedProtocol)
		}
	})
	t.Run("the node's delivery client negotiates HTTP/2", func(t *testing.T) {
		partner := p.dirIN.Lookup("VN")
		if partner == nil {
			t.Fatal("IN does not know VN")
		}
		resp, err := get(p.in.Node.clientFor(partner))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Proto)
		}
	})
	t.Run("an HTTP/1.1-only client still works", func(t *testing.T) {
		c := partnerClient(in, vn.PKI.Root.Cert)
		c.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
		c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		resp, err := get(c)
		if err != nil || resp.Proto != "HTTP/1.1" || resp.StatusCode != http.StatusOK {
			t.Fatalf("got %v %v", resp, err)
		}
	})
	t.Run("no client certificate: refused in the handshake", func(t *testing.T) {
		if resp, err := get(h2client(nil)); err == nil {
			t.Fatalf("HTTP/2 without a client certificate answered %d %s", resp.StatusCode, resp.Proto)
		}
	})
	t.Run("a stranger's client certificate: refused in the handshake", func(t *testing.T) {
		if resp, err := get(h2client(xx)); err == nil {
			t.Fatalf("HTTP/2 with a stranger's certificate answered %d %s", resp.StatusCode, resp.Proto)
		}
	})
}

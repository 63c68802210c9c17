package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/ulvs/ulvs/internal/config"
)

// maxBody caps how much of a response body is read: backend responses are
// untrusted (keepalived's CVE-2018-19115 was an HTTP checker overflow).
const maxBody = 4 << 20

// HTTP is HTTP_GET (and SSL_GET with TLS): every url must answer with an
// accepted status and, when a digest is set, a body with that MD5.
type HTTP struct {
	Target netip.AddrPort
	Bind   netip.AddrPort
	Conf   config.HTTPCheck
	TLS    bool
}

// Probe fetches every url in order over fresh connections, as keepalived
// does, and fails on the first one that does not match.
func (h *HTTP) Probe(ctx context.Context) Result {
	for i := range h.Conf.URLs {
		if err := h.get(ctx, &h.Conf.URLs[i]); err != nil {
			return Result{Err: err, Weight: -1}
		}
	}
	return Result{Weight: -1}
}

func (h *HTTP) get(ctx context.Context, u *config.URL) error {
	c, err := dial(ctx, "tcp", h.Bind, h.Target)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	host := u.Virtualhost
	if host == "" {
		host = h.Conf.Virtualhost
	}
	if h.TLS {
		// keepalived does not verify the certificate unless a CA is
		// configured; the check is about the service answering.
		tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // health probe, see above
		if h.Conf.EnableSNI {
			tc.ServerName = h.Conf.SNIName
			if tc.ServerName == "" {
				tc.ServerName = host
			}
		}
		tlsConn := tls.Client(c, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c = tlsConn
	}
	if host == "" {
		host = hostHeader(h.Target)
	}
	proto := "HTTP/1.0"
	extra := ""
	switch h.Conf.Protocol {
	case "1.1":
		proto, extra = "HTTP/1.1", "Connection: close\r\n"
	case "1.0C":
		extra = "Connection: close\r\n"
	}
	req := fmt.Sprintf("GET %s %s\r\nUser-Agent: KeepAliveClient\r\nHost: %s\r\n%s\r\n", u.Path, proto, host, extra)
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		return fmt.Errorf("GET %s: reading the response: %w", u.Path, err)
	}
	defer resp.Body.Close()
	if !statusOK(u.StatusCodes, resp.StatusCode) {
		return fmt.Errorf("GET %s: status %d not accepted", u.Path, resp.StatusCode)
	}
	if u.Digest == nil {
		return nil
	}
	sum := md5.New()
	n, err := io.Copy(sum, io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: reading the body: %w", u.Path, err)
	}
	if n > maxBody {
		return fmt.Errorf("GET %s: body larger than %d bytes", u.Path, maxBody)
	}
	if got := sum.Sum(nil); !bytes.Equal(got, u.Digest) {
		return fmt.Errorf("GET %s: body digest %x, want %x", u.Path, got, u.Digest)
	}
	return nil
}

func statusOK(ranges []config.StatusRange, code int) bool {
	if len(ranges) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range ranges {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

func hostHeader(ap netip.AddrPort) string {
	return strings.TrimSuffix(net.JoinHostPort(ap.Addr().String(), fmt.Sprint(ap.Port())), ":80")
}

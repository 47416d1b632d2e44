// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/pki"
)

// maxBody caps what is read of an API answer.
const maxBody = 1 << 20

// session is ferryctl on the link: its stack and its keys.
type session struct {
	net    *hostnet.Net
	bundle *pki.Bundle
}

// loadKeys reads and checks the -keys bundle.
func (e *env) loadKeys() (*pki.Bundle, error) {
	data, err := os.ReadFile(e.g.keys)
	if err != nil {
		return nil, fmt.Errorf("-keys: %v (make keys with: ferryctl keys -out DIR -ca NAME board1=IP board2=IP operator:ctl)", err)
	}
	b, err := pki.LoadBundle(data)
	if err != nil {
		return nil, fmt.Errorf("-keys %s: %w", e.g.keys, err)
	}
	if b.Role != pki.RoleOperator {
		return nil, fmt.Errorf("-keys %s: %q is a %s's key; ferryctl needs an operator's (ferryctl keys ... operator:NAME)", e.g.keys, b.Name, b.Role)
	}
	return b, nil
}

// open loads the keys and joins the link.
func (e *env) open(ctx context.Context) (*session, error) {
	cfg, err := e.linkConfig()
	if err != nil {
		return nil, err
	}
	b, err := e.loadKeys()
	if err != nil {
		return nil, err
	}
	// Unless -ip was given, step past addresses other ferryctl runs hold.
	tries := 1
	if !e.g.ipSet {
		tries += spareAddrs
	}
	for i := 0; ; i++ {
		n, err := hostnet.Join(ctx, cfg)
		if err == nil {
			return &session{net: n, bundle: b}, nil
		}
		next := cfg.Addr.Addr().Next()
		if !errors.Is(err, hostnet.ErrAddrInUse) || i+1 >= tries || !cfg.Addr.Contains(next) {
			if errors.Is(err, hostnet.ErrAddrInUse) {
				err = fmt.Errorf("%w; is another ferryctl running? choose an address with -ip", err)
			}
			return nil, err
		}
		cfg.Addr = netip.PrefixFrom(next, cfg.Addr.Bits())
	}
}

func (s *session) close() { s.net.Close() }

// client is an HTTPS client of the boards' API over the link. Each client
// has its own connections.
type client struct {
	tr *http.Transport
	hc *http.Client
}

// newClient returns a client that dials through n and authenticates with b.
func newClient(n *hostnet.Net, b *pki.Bundle) *client {
	tr := &http.Transport{
		DialContext:         n.DialContext,
		TLSClientConfig:     b.ClientConfig(pki.Options{PeerRole: pki.RoleBoard}),
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}
	return &client{tr: tr, hc: &http.Client{Transport: tr}}
}

func (s *session) client() *client { return newClient(s.net, s.bundle) }

func (c *client) close() { c.tr.CloseIdleConnections() }

// do sends a request to https://addr/path and returns the status, the body
// (up to maxBody) and the TLS state. Deadlines come from ctx.
func (c *client) do(ctx context.Context, method, addr, path string, body any) (int, []byte, *tls.ConnectionState, error) {
	url := "https://" + addr + path
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	return resp.StatusCode, data, resp.TLS, nil
}

// getJSON GETs addr's path into v; anything but 200 is an error.
func (c *client) getJSON(ctx context.Context, addr, path string, v any) (*tls.ConnectionState, error) {
	code, data, cs, err := c.do(ctx, http.MethodGet, addr, path, nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, answerError("GET", addr, path, code, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("GET https://%s%s: bad answer: %v", addr, path, err)
	}
	return cs, nil
}

// status asks addr for its status; the second result is the name in the
// board's certificate.
func (c *client) status(ctx context.Context, addr string) (api.Status, string, error) {
	var st api.Status
	cs, err := c.getJSON(ctx, addr, api.PathStatus, &st)
	if err != nil {
		return st, "", err
	}
	return st, pki.PeerName(*cs), nil
}

// answerError describes an error answer: the board's {"error": "..."}
// message if it sent one, else the start of the body.
func answerError(method, addr, path string, code int, body []byte) error {
	msg := oneLine(body)
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return fmt.Errorf("%s https://%s%s: %d %s: %s", method, addr, path, code, http.StatusText(code), msg)
}

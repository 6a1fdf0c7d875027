package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// kubeAPI is a minimal JSON client of the lab's API server under one client certificate: the
// kubelet stand-in talks as system:node:<name> (so the Node authorizer and NodeRestriction
// judge it as they judge a kubelet), Talos's node controller as an admin. Objects it reads and
// writes back are kept as generic maps, so no field the server set is lost on an update.
type kubeAPI struct {
	server string
	http   *http.Client
	// token, when set, is sent as a bearer token (the kubelet's bootstrap token).
	token string
}

func newKubeAPI(server string, roots *x509.CertPool, cert tls.Certificate) *kubeAPI {
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if len(cert.Certificate) > 0 {
		tlsConfig.Certificates = []tls.Certificate{cert}
	}

	return &kubeAPI{
		server: server,
		http: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConfig},
		},
	}
}

func (k *kubeAPI) close() { k.http.CloseIdleConnections() }

// apiError is a non-2xx answer of the API server.
type apiError struct {
	method, path string
	code         int
	body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.code, e.body)
}

// statusCode is the HTTP status of an API error, 0 for any other error.
func statusCode(err error) int {
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr.code
	}

	return 0
}

// do sends body (JSON-encoded unless nil) with the given content type and decodes a 2xx answer
// into out (when not nil).
func (k *kubeAPI) do(ctx context.Context, method, path, contentType string, body, out any) error {
	var reader io.Reader

	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}

		reader = bytes.NewReader(data)
	}

	req, err := http.NewRequestWithContext(ctx, method, k.server+path, reader)
	if err != nil {
		return err
	}

	req.Header.Set("Accept", "application/json")

	if k.token != "" {
		req.Header.Set("Authorization", "Bearer "+k.token)
	}

	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}

	resp, err := k.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck

	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{method: method, path: path, code: resp.StatusCode, body: strings.TrimSpace(string(data))}
	}

	if out == nil {
		return nil
	}

	return json.Unmarshal(data, out)
}

func (k *kubeAPI) get(ctx context.Context, path string, out any) error {
	return k.do(ctx, http.MethodGet, path, "", nil, out)
}

func (k *kubeAPI) create(ctx context.Context, path string, body, out any) error {
	return k.do(ctx, http.MethodPost, path, "application/json", body, out)
}

func (k *kubeAPI) update(ctx context.Context, path string, body, out any) error {
	return k.do(ctx, http.MethodPut, path, "application/json", body, out)
}

// strategicPatch is how the kubelet sends its node status: lists such as conditions merge by
// their key (type), so one condition can be refreshed without restating the others.
func (k *kubeAPI) strategicPatch(ctx context.Context, path string, body, out any) error {
	return k.do(ctx, http.MethodPatch, path, "application/strategic-merge-patch+json", body, out)
}

// object is a Kubernetes object as decoded JSON.
type object = map[string]any

// child returns obj[key] as an object, creating it when absent.
func child(obj object, key string) object {
	if m, ok := obj[key].(map[string]any); ok {
		return m
	}

	m := object{}
	obj[key] = m

	return m
}

// stringMap reads a map[string]string field (labels, annotations) of a decoded object.
func stringMap(obj object, key string) map[string]string {
	out := map[string]string{}

	if m, ok := obj[key].(map[string]any); ok {
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}

	return out
}

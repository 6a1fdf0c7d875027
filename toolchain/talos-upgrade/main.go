// Command talos-upgrade upgrades one Talos node to the version of an installer image, the one
// thing the Talos Pulumi provider cannot do. The stack runs it once per node, control planes
// first, one at a time:
//
//	talos-upgrade --node <ip> --endpoint <ip> --image <installer>:vX.Y.Z [--timeout 10m] [--stage] <talosconfig
//
// The talosconfig (YAML as talos.client.getConfiguration renders it) comes from stdin and
// nowhere else: it carries the client's private key, which must never sit in a file or on a
// command line. The tool is idempotent: a node already running the image's version is left
// alone. Every phase prints one line on stdout; a failure prints one line on stderr and exits
// 1 (2 for a bad invocation). --endpoint defaults to --node.
//
// Without --stage the tool waits, up to --timeout for the whole run, until the node answers
// with the new version; a node that is away (rebooting) is waited for, one that refuses the
// client certificate fails at once. With --stage the node only stages the upgrade for its next
// reboot and the tool returns at once: until that reboot the node still runs, and reports, the
// old version, so another run would stage it again.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"golang.org/x/term"
)

const usage = "usage: talos-upgrade --node <ip> --endpoint <ip> --image <installer image>:vX.Y.Z [--timeout 10m] [--stage] <talosconfig"

// options are the parsed command line.
type options struct {
	node     string        // the node to upgrade, sent as gRPC metadata "node"
	endpoint string        // the apid dialled (port 50000 unless given)
	image    string        // installer image reference
	version  string        // its tag: the version the node must end up running
	timeout  time.Duration // for the whole run, reboot included
	stage    bool          // stage the upgrade for the node's next reboot instead of rebooting now
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole tool, minus the process: tests call it with their own stdin and outputs.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "talos-upgrade:", oneLine(err))

		return code
	}

	opts, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usage)

		return 0
	}

	if err != nil {
		return fail(2, fmt.Errorf("%w (%s)", err, usage))
	}

	talosconfig, err := readTalosconfig(stdin)
	if err != nil {
		return fail(2, err)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()

	if err = upgrade(ctx, opts, talosconfig, stdout); err != nil {
		return fail(1, err)
	}

	return 0
}

func parseArgs(args []string) (options, error) {
	var opts options

	fs := flag.NewFlagSet("talos-upgrade", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, on one line
	fs.StringVar(&opts.node, "node", "", "IP of the node to upgrade")
	fs.StringVar(&opts.endpoint, "endpoint", "", "IP[:port] of the Talos API to dial (default: the node)")
	fs.StringVar(&opts.image, "image", "", "installer image, tagged with the Talos version: <repository>:vX.Y.Z")
	fs.DurationVar(&opts.timeout, "timeout", 10*time.Minute, "give up after this long, reboot included")
	fs.BoolVar(&opts.stage, "stage", false, "stage the upgrade; the node installs it at its next reboot")

	if err := fs.Parse(args); err != nil {
		return opts, err
	}

	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q (the talosconfig is read from stdin)", fs.Arg(0))
	}

	if net.ParseIP(opts.node) == nil {
		return opts, fmt.Errorf("--node %q is not an IP address", opts.node)
	}

	if opts.endpoint == "" {
		opts.endpoint = opts.node
	}

	if !isIPEndpoint(opts.endpoint) {
		return opts, fmt.Errorf("--endpoint %q is not an IP address or IP:port", opts.endpoint)
	}

	var err error
	if opts.version, err = imageVersion(opts.image); err != nil {
		return opts, err
	}

	if opts.timeout <= 0 {
		return opts, fmt.Errorf("--timeout must be positive")
	}

	return opts, nil
}

func isIPEndpoint(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}

	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}

	n, err := strconv.Atoi(port)

	return err == nil && n > 0 && n < 65536 && net.ParseIP(host) != nil
}

var versionTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// imageVersion returns the tag of an installer image reference, which must be a Talos version:
// it is what the node reports once upgraded, so without it the tool could neither skip a node
// that is done nor tell when the upgrade has finished. The rest of the reference is the node's
// business (it answers InvalidArgument for a reference it cannot use).
func imageVersion(image string) (string, error) {
	i := strings.LastIndex(image, ":")
	if i <= 0 || i < strings.LastIndex(image, "/") || strings.Contains(image, "@") ||
		!versionTag.MatchString(image[i+1:]) {
		return "", fmt.Errorf("--image %q must end in :vX.Y.Z, the Talos version it installs", image)
	}

	return image[i+1:], nil
}

// maxTalosconfig bounds what is read from stdin; a talosconfig is a few kilobytes.
const maxTalosconfig = 1 << 20

// yamlLine finds the position in a YAML error; the rest of such an error may quote the input,
// and the input holds a private key.
var yamlLine = regexp.MustCompile(`line \d+`)

// talosconfig is the current context of the talosconfig read from stdin, and the TLS
// identity it describes.
type talosconfig struct {
	context *clientconfig.Context
	roots   *x509.CertPool  // the OS CA the node's certificate must chain to
	cert    tls.Certificate // the client certificate and key
}

// readTalosconfig reads the talosconfig from stdin and returns its current context, checked to
// carry a CA and a client certificate and key. No error message quotes the input.
func readTalosconfig(stdin io.Reader) (*talosconfig, error) {
	// Nobody types a private key: on a terminal, say how to pipe it instead of waiting.
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("stdin is a terminal: pipe the talosconfig in (talos-upgrade ... <talosconfig)")
	}

	data, err := io.ReadAll(io.LimitReader(stdin, maxTalosconfig+1))
	if err != nil {
		return nil, fmt.Errorf("reading the talosconfig from stdin: %w", err)
	}

	switch {
	case len(strings.TrimSpace(string(data))) == 0:
		return nil, errors.New("no talosconfig on stdin")
	case len(data) > maxTalosconfig:
		return nil, fmt.Errorf("the talosconfig on stdin is larger than %d bytes", maxTalosconfig)
	}

	cfg, err := clientconfig.FromBytes(data)
	if err != nil {
		where := yamlLine.FindString(err.Error())
		if where == "" {
			where = "its structure"
		}

		return nil, fmt.Errorf("the talosconfig on stdin is not valid (YAML error at %s)", where)
	}

	ctx, ok := cfg.Contexts[cfg.Context]
	if !ok || ctx == nil {
		return nil, fmt.Errorf("the talosconfig on stdin has no context %q (its current context)", cfg.Context)
	}

	if ctx.CA == "" || ctx.Crt == "" || ctx.Key == "" {
		return nil, fmt.Errorf("talosconfig context %q lacks ca, crt or key: a client certificate is required", cfg.Context)
	}

	// The library's own loader, run now so a broken pair fails before any dialling; its errors
	// name the field and the decoding problem, never the bytes.
	cert, err := client.CertificateFromConfigContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("talosconfig context %q: %w", cfg.Context, err)
	}

	roots := x509.NewCertPool()
	if ca, err := base64.StdEncoding.DecodeString(ctx.CA); err != nil || !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("talosconfig context %q: ca is not a base64-encoded PEM certificate", cfg.Context)
	}

	// mTLS only: the other methods a context may name (SideroV1 keys) are read from disk.
	ctx.Auth = clientconfig.Auth{}

	return &talosconfig{context: ctx, roots: roots, cert: *cert}, nil
}

// oneLine keeps an error on one line: node messages (validation errors) may span several.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

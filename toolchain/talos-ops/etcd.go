package main

// talos-ops etcd-snapshot and etcd-recover: the node's etcd database out and back in, for
// `npm run etcd-backup` and `npm run etcd-restore` (tools/etcd-backup.ts).
//
//	talos-ops etcd-snapshot --node <ip> --endpoint <ip> <talosconfig >etcd.db
//	talos-ops etcd-recover --node <ip> --endpoint <ip> --snapshot <file> <talosconfig
//
// etcd-snapshot streams MachineService EtcdSnapshot to stdout and prints nothing else; only an
// exit status of 0 means stdout holds a whole snapshot (a failure may come after some bytes).
// etcd-recover uploads the file with EtcdRecover, prints
//
//	node <ip> received the snapshot (<n> bytes); bootstrapping etcd from it
//
// then calls Bootstrap with recover_etcd (recover_skip_hash_check unset: etcd checks the
// snapshot's hash), up to 5 minutes, and prints
//
//	node <ip> bootstrapped etcd from the snapshot
//
// The file is closed before the first line, so the caller may delete it then (etcd-backup.ts
// does, and reports the upload on that line). A failed call is reported as
// "Talos <method> on <node>: <the node's message>", the error etcd-backup.ts passes on.

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	etcdSnapshotUsage = "usage: talos-ops etcd-snapshot --node <ip> --endpoint <ip> <talosconfig >etcd.db"
	etcdRecoverUsage  = "usage: talos-ops etcd-recover --node <ip> --endpoint <ip> --snapshot <file> <talosconfig"

	// bootstrapTimeout bounds Bootstrap(recover_etcd): the node restores the snapshot and starts
	// etcd and the API server before it answers.
	bootstrapTimeout = 5 * time.Minute
)

// talosError is a failed call to the node, as etcd-backup.ts has always reported one: the
// node's own message for an answer it gave, and for a client certificate it refuses, why.
func talosError(ctx context.Context, n *node, method, nodeIP string, err error) error {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}

	// No answer from the node may be its refusal of the client certificate, which gRPC often
	// sees only as a broken connection (see probeRefusal): ask the node.
	if code := status.Code(err); (code == codes.Unavailable || code == codes.Unknown) && ctx.Err() == nil {
		if refused := n.probeRefusal(ctx); refused != nil {
			msg = "the node refuses this client: " + refused.Error()

			// Or the other way round: the node is not one the talosconfig's CA vouches for.
			var verify *tls.CertificateVerificationError
			if errors.As(refused, &verify) {
				msg = "the node's certificate is not from this talosconfig's CA: " + refused.Error()
			}
		}
	}

	return fmt.Errorf("Talos %s on %s: %s", method, nodeIP, msg) //nolint:staticcheck // a sentence's start
}

// etcdSnapshotCmd is talos-ops etcd-snapshot: no flags of its own.
type etcdSnapshotCmd struct{}

func (*etcdSnapshotCmd) flags(*flag.FlagSet) {}

// check refuses a terminal for stdout: a database is no thing to print.
func (*etcdSnapshotCmd) check(_ target, stdout io.Writer) error {
	return refuseTerminal(stdout, "snapshot", "talos-ops etcd-snapshot ... <talosconfig >etcd.db")
}

// run streams the snapshot. It reads the stream itself rather than through the library's
// ReadStream, which ends a stream that failed with DeadlineExceeded or Canceled as if it were
// complete: a cut snapshot must be a failure, never a short success.
func (*etcdSnapshotCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	n, err := connect(t, tc)
	if err != nil {
		return fmt.Errorf("node %s: %w", t.node, err)
	}
	defer n.c.Close() //nolint:errcheck

	ctx, cancel := context.WithCancel(client.WithNode(ctx, t.node))
	defer cancel()

	fail := func(err error) error { return talosError(ctx, n, "EtcdSnapshot", t.node, err) }

	stream, err := n.c.MachineClient.EtcdSnapshot(ctx, &machine.EtcdSnapshotRequest{})
	if err != nil {
		return fail(err)
	}

	total := 0

	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}

		if err != nil {
			return fail(err)
		}

		if md := msg.GetMetadata(); md.GetError() != "" {
			return fail(errors.New(md.GetError()))
		}

		if _, err = stdout.Write(msg.GetBytes()); err != nil {
			return fmt.Errorf("writing the snapshot to stdout: %w", err)
		}

		total += len(msg.GetBytes())
	}

	if total == 0 {
		return fail(errors.New("the node sent an empty snapshot"))
	}

	return nil
}

// etcdRecoverCmd is talos-ops etcd-recover's own flag.
type etcdRecoverCmd struct {
	snapshot string // the snapshot file to upload
}

func (r *etcdRecoverCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&r.snapshot, "snapshot", "", "the etcd snapshot file to restore")
}

func (r *etcdRecoverCmd) check(target, io.Writer) error {
	if r.snapshot == "" {
		return errors.New("--snapshot is required")
	}

	info, err := os.Stat(r.snapshot)

	switch {
	case err != nil:
		return fmt.Errorf("--snapshot: %w", err)
	case !info.Mode().IsRegular():
		return fmt.Errorf("--snapshot %s is not a regular file", r.snapshot)
	case info.Size() == 0:
		return fmt.Errorf("--snapshot %s is empty", r.snapshot)
	}

	return nil
}

func (r *etcdRecoverCmd) run(ctx context.Context, t target, tc *talosconfig, stdout io.Writer) error {
	f, err := os.Open(r.snapshot)
	if err != nil {
		return fmt.Errorf("--snapshot: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only; closed again below

	n, err := connect(t, tc)
	if err != nil {
		return fmt.Errorf("node %s: %w", t.node, err)
	}
	defer n.c.Close() //nolint:errcheck

	ctx = client.WithNode(ctx, t.node)
	counted := &countingReader{r: f}

	// The library's upload: the file in chunks, then the node's answer (its refusal, when etcd
	// still has data, arrives here even if it stopped reading early).
	if _, err = n.c.EtcdRecover(ctx, counted); err != nil {
		return talosError(ctx, n, "EtcdRecover", t.node, err)
	}

	f.Close() //nolint:errcheck,gosec // done with it: the caller may delete it from now on

	fmt.Fprintf(stdout, "node %s received the snapshot (%d bytes); bootstrapping etcd from it\n", t.node, counted.n)

	bootCtx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()

	if err = n.c.Bootstrap(bootCtx, &machine.BootstrapRequest{RecoverEtcd: true}); err != nil {
		return talosError(ctx, n, "Bootstrap", t.node, err)
	}

	fmt.Fprintf(stdout, "node %s bootstrapped etcd from the snapshot\n", t.node)

	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)

	return n, err
}

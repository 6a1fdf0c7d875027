package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// The VIP (machine.network.interfaces[].vip.ip), as Talos v1.11.5's VIP operator holds it
// (internal/app/machined/pkg/controllers/network/operator/vip.go): every control plane whose
// etcd is healthy campaigns in an etcd election on the key "talos:v1:vip:election:<ip>" with its
// hostname, on an etcd session of the client's default TTL (60 s); the winner puts the address
// on its link until it sees another leader, its session ends, or the node goes down, and then
// resigns. A holder that stops cleanly (an upgrade, a shutdown) resigns at once and another
// takes over within a second; one that dies keeps the key until its session's lease expires, so
// another takes over within the TTL (up to a minute, as Talos documents for an abrupt failure).
//
// On a real node the address is on the holder's link, so everything listening on all addresses
// answers on it: the API server (6443), etcd's client port, apid and trustd. The lab's nodes
// share one loopback interface, so the holder binds the VIP's ports itself and forwards each
// connection to its own service on its own address; when it lets go, the listeners close and
// so do the connections through them, as they break when the address leaves a node.

const (
	// campaignRetryInterval is the operator's wait after a failed campaign.
	campaignRetryInterval = time.Second
	// vipResignTimeout bounds the resign on the way out (the operator's 10 s).
	vipResignTimeout = 10 * time.Second
	// trustdPort is constants.TrustdPort.
	trustdPort = 50001
)

// vipElectionKey is the operator's etcdElectionKey: constants.EtcdRootTalosKey ("talos:v1")
// + ":vip:election:" + the shared IP.
func vipElectionKey(vip string) string {
	return "talos:v1:vip:election:" + vip
}

// runVIP is the operator's Run loop: campaign, and campaign again when a campaign ends (at once
// when it ended cleanly, after a second when it failed), until ctx ends.
func (c *controlPlane) runVIP(ctx context.Context, plan *controlPlanePlan) {
	log := c.log.With("vip", plan.vip)

	for {
		err := c.campaignVIP(ctx, plan)
		if ctx.Err() != nil {
			return
		}

		if err != nil {
			log.Warn("campaign failure", "err", err)

			select {
			case <-time.After(campaignRetryInterval):
			case <-ctx.Done():
				return
			}
		}
	}
}

// campaignVIP is one campaign (operator/vip.go campaign): win the election, hold the VIP while
// the leader, resign and let go.
func (c *controlPlane) campaignVIP(ctx context.Context, plan *controlPlanePlan) error {
	log := c.log.With("vip", plan.vip)
	hostname := plan.etcdName

	// The client outlives ctx: the resign on the way out needs it.
	client, err := newEtcdClient(context.Background(), []string{plan.etcdEndpoint()})
	if err != nil {
		return fmt.Errorf("failed to create local etcd client: %w", err)
	}
	defer client.Close() //nolint:errcheck

	sess, err := concurrency.NewSession(client)
	if err != nil {
		return fmt.Errorf("failed to create concurrency session: %w", err)
	}
	defer sess.Close() //nolint:errcheck

	election := concurrency.NewElection(sess, vipElectionKey(plan.vip))

	leader, err := election.Leader(ctx)
	if err != nil {
		if !errors.Is(err, concurrency.ErrElectionNoLeader) {
			return fmt.Errorf("failed getting current leader: %w", err)
		}
	} else if string(leader.Kvs[0].Value) == hostname {
		log.Info("resigning from previous election")

		// Still the leader from an earlier session (a restart within the TTL): resign so that a
		// fresh election runs.
		resumed := concurrency.ResumeElection(sess, vipElectionKey(plan.vip), string(leader.Kvs[0].Key), leader.Kvs[0].CreateRevision)
		if err = resumed.Resign(ctx); err != nil {
			return fmt.Errorf("failed resigning from previous elections: %w", err)
		}
	}

	campaignErr := make(chan error, 1)

	go func() { campaignErr <- election.Campaign(ctx, hostname) }()

	select {
	case err = <-campaignErr:
		if err != nil {
			return fmt.Errorf("failed to conduct campaign: %w", err)
		}
	case <-sess.Done():
		log.Info("etcd session closed")

		return nil
	case <-ctx.Done():
		return nil
	}

	defer func() {
		resignCtx, cancel := context.WithTimeout(context.Background(), vipResignTimeout)
		defer cancel()

		election.Resign(resignCtx) //nolint:errcheck
	}()

	holder := c.holdVIP(plan)
	defer func() {
		holder.release()
		log.Info("removing shared IP")
	}()

	log.Info("enabled shared IP")

	observe := election.Observe(ctx)

	for {
		select {
		case <-sess.Done():
			log.Info("etcd session closed")

			return nil
		case <-ctx.Done():
			return nil
		case resp, ok := <-observe:
			if !ok {
				return nil
			}

			if len(resp.Kvs) > 0 && string(resp.Kvs[0].Value) != hostname {
				log.Info("detected new leader", "leader", string(resp.Kvs[0].Value))

				return nil
			}
		}
	}
}

// vipHolder is the VIP on this node: a listener per forwarded port and the connections through
// them.
type vipHolder struct {
	mu        sync.Mutex
	released  bool
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
}

// holdVIP binds the VIP's ports, each forwarded to the same service on the node's own address:
// the cluster endpoint's port to the API server, etcd's client port, apid and trustd. A port
// still bound by the previous holder (which has not let go yet) is retried until it is free.
func (c *controlPlane) holdVIP(plan *controlPlanePlan) *vipHolder {
	h := &vipHolder{conns: map[net.Conn]struct{}{}, stop: make(chan struct{})}

	forwards := map[int]int{plan.clusterPort: plan.apiPort, etcdClientPort: etcdClientPort, trustdPort: trustdPort}
	if c.apidPort != 0 {
		forwards[c.apidPort] = c.apidPort
	}

	for from, to := range forwards {
		listen := net.JoinHostPort(plan.vip, strconv.Itoa(from))
		target := net.JoinHostPort(plan.ip, strconv.Itoa(to))

		h.wg.Add(1)

		go func() {
			defer h.wg.Done()
			h.serve(c, listen, target)
		}()
	}

	return h
}

// serve binds listen (retrying every 200 ms while it is taken) and forwards every connection
// to target until the holder is released.
func (h *vipHolder) serve(c *controlPlane, listen, target string) {
	var (
		lis    net.Listener
		err    error
		logged bool
	)

	for {
		if lis, err = net.Listen("tcp", listen); err == nil {
			break
		}

		if !logged {
			c.log.Warn("VIP port still taken; retrying", "listen", listen, "err", err)
			logged = true
		}

		select {
		case <-h.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}

	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		lis.Close() //nolint:errcheck

		return
	}

	h.listeners = append(h.listeners, lis)
	h.mu.Unlock()

	for {
		conn, err := lis.Accept()
		if err != nil {
			return
		}

		if !h.track(conn) {
			conn.Close() //nolint:errcheck

			return
		}

		go h.forward(conn, target)
	}
}

func (h *vipHolder) track(conn net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()

	if h.released {
		return false
	}

	h.conns[conn] = struct{}{}

	return true
}

func (h *vipHolder) untrack(conns ...net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()

	for _, conn := range conns {
		delete(h.conns, conn)
	}
}

// forward copies bytes both ways between a client of the VIP and the node's own service.
func (h *vipHolder) forward(client net.Conn, target string) {
	defer client.Close() //nolint:errcheck

	upstream, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		h.untrack(client)

		return
	}
	defer upstream.Close() //nolint:errcheck

	if !h.track(upstream) {
		h.untrack(client)

		return
	}

	done := make(chan struct{}, 2)

	go func() {
		io.Copy(upstream, client) //nolint:errcheck
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, upstream) //nolint:errcheck
		done <- struct{}{}
	}()

	<-done
	h.untrack(client, upstream)
}

// release closes the listeners and every connection through them, and waits for the listeners
// to be gone.
func (h *vipHolder) release() {
	h.mu.Lock()
	h.released = true

	for _, lis := range h.listeners {
		lis.Close() //nolint:errcheck
	}

	for conn := range h.conns {
		conn.Close() //nolint:errcheck
	}
	h.mu.Unlock()

	close(h.stop)
	h.wg.Wait()
}

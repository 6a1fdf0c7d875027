package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// One etcd cluster across the control planes, as Talos v1.11.5 forms it:
//
//   - the bootstrapped node starts etcd as a single member (Bootstrap, services/etcd.go
//     argsForControlPlane with Bootstrap set);
//   - every other control plane with an empty data directory joins: it finds the cluster through
//     the control-plane endpoints, removes a stale member of its own name, adds itself as a
//     learner, starts etcd with --initial-cluster-state=existing and the member list it got, and
//     promotes itself once it has caught up (internal/app/machined/pkg/system/services/etcd.go
//     buildInitialCluster, addMember, promoteMember);
//   - a node whose data directory has data starts from it with no initial-cluster arguments.
//
// The control-plane endpoints are Talos's merged k8s.Endpoint resources
// (internal/pkg/etcd/endpoints.go GetEndpoints). Of their three sources the lab has one: the
// cluster endpoint's host, resolved (internal/app/machined/pkg/controllers/k8s/static_endpoint.go),
// which in a multi-node stack is the VIP whose holder forwards etcd's client port (vip.go). The
// discovery service is not reachable from the lab, and the API servers' EndpointSlice cannot hold
// loopback addresses (the lab's API servers run with --endpoint-reconciler-type=none).
//
// etcd speaks plain HTTP here; Talos's etcd has mutual TLS from cluster.etcd.ca.

const (
	// etcdJoinRetry is buildInitialCluster's retry: constant 3 s with 1 s of jitter, each attempt
	// bounded by 30 s (services/etcd.go).
	etcdJoinRetry   = 3 * time.Second
	etcdJoinAttempt = 30 * time.Second
	// etcdJoinNag: how often a node waiting to join says so (services/etcd.go, every 30 s).
	etcdJoinNag = 30 * time.Second
	// etcdPromoteRetry is promoteMember's retry: constant 15 s with 1 s of jitter, 30 s per
	// attempt, for up to 10 minutes.
	etcdPromoteRetry   = 15 * time.Second
	etcdPromoteAttempt = 30 * time.Second
	etcdPromoteTimeout = 10 * time.Minute
	// etcdQuorumCheckTimeout is internal/pkg/etcd QuorumCheckTimeout.
	etcdQuorumCheckTimeout = 15 * time.Second
	// upgradeLockTTL is MinimumEtcdUpgradeLeaseLockSeconds
	// (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go).
	upgradeLockTTL = 60
	// etcdUpgradeMutex is constants.EtcdTalosEtcdUpgradeMutex ("talos:v1" + ":etcdUpgradeMutex").
	etcdUpgradeMutex = "talos:v1:etcdUpgradeMutex"
)

// newEtcdClient is internal/pkg/etcd NewClient without TLS: 5 s dial timeout, no logging.
func newEtcdClient(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("error building etcd client: %w", err)
	}

	return c, nil
}

// controlPlaneEndpoints is GetEndpoints for the lab: the addresses of the cluster endpoint's
// host with etcd's client port, shuffled as NewClientFromControlPlaneIPs shuffles them.
func controlPlaneEndpoints(ctx context.Context, cfg config.Provider) ([]string, error) {
	endpoint := cfg.Cluster().Endpoint()
	if endpoint == nil || endpoint.Hostname() == "" {
		return nil, errors.New("no controlplane endpoints discovered yet")
	}

	var resolver net.Resolver

	addrs, err := resolver.LookupNetIP(ctx, "ip", endpoint.Hostname())
	if err != nil {
		return nil, fmt.Errorf("error resolving %q: %w", endpoint.Hostname(), err)
	}

	endpoints := make([]string, 0, len(addrs))
	for _, addr := range addrs {
		endpoints = append(endpoints, net.JoinHostPort(addr.Unmap().String(), strconv.Itoa(etcdClientPort)))
	}

	if len(endpoints) == 0 {
		return nil, errors.New("no controlplane endpoints discovered yet")
	}

	rand.Shuffle(len(endpoints), func(i, j int) { endpoints[i], endpoints[j] = endpoints[j], endpoints[i] })

	return endpoints, nil
}

// newClusterEtcdClient is NewClientFromControlPlaneIPs.
func newClusterEtcdClient(ctx context.Context, cfg config.Provider) (*clientv3.Client, error) {
	endpoints, err := controlPlaneEndpoints(ctx, cfg)
	if err != nil {
		return nil, err
	}

	return newEtcdClient(ctx, endpoints)
}

// addMember is services/etcd.go addMember: through the cluster, drop a member that carries this
// node's name (a node that lost its data and joins again) and add this node as a learner. It
// returns the member list after the add and the new member's ID.
func addMember(ctx context.Context, cfg config.Provider, peerURL, name string) (*clientv3.MemberListResponse, uint64, error) {
	client, err := newClusterEtcdClient(ctx, cfg)
	if err != nil {
		return nil, 0, err
	}
	defer client.Close() //nolint:errcheck

	ctx = clientv3.WithRequireLeader(ctx)

	list, err := client.MemberList(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("error getting etcd member list: %w", err)
	}

	for _, member := range list.Members {
		if member.Name == name {
			if _, err = client.MemberRemove(ctx, member.ID); err != nil {
				return nil, 0, fmt.Errorf("error removing self from the member list: %w", err)
			}
		}
	}

	add, err := client.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		return nil, 0, fmt.Errorf("error adding member: %w", err)
	}

	list, err = client.MemberList(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("error getting second etcd member list: %w", err)
	}

	return list, add.Member.ID, nil
}

// buildInitialCluster is services/etcd.go buildInitialCluster: retry addMember every 3 s (plus
// jitter) until it succeeds or ctx ends, saying every 30 s that the node waits to join; the
// answer is etcd's --initial-cluster (the new member under this node's name) and the learner's ID.
func buildInitialCluster(ctx context.Context, log *slog.Logger, cfg config.Provider, name, peerURL string) (string, uint64, error) {
	var lastNag time.Time

	for {
		if time.Since(lastNag) > etcdJoinNag {
			lastNag = time.Now()

			log.Info("etcd is waiting to join the cluster, if this node is the first node in the cluster, " +
				"please run `talosctl bootstrap` against one of the following IPs: " + peerHost(peerURL))
		}

		attemptCtx, cancel := context.WithTimeout(ctx, etcdJoinAttempt)
		resp, id, err := addMember(attemptCtx, cfg, peerURL, name)

		cancel()

		if err == nil {
			var conf []string

			for _, member := range resp.Members {
				for _, u := range member.PeerURLs {
					n := member.Name
					if member.ID == id {
						n = name
					}

					conf = append(conf, n+"="+u)
				}
			}

			log.Info("etcd member added as a learner", "id", fmt.Sprintf("%x", id), "initial_cluster", strings.Join(conf, ","))

			return strings.Join(conf, ","), id, nil
		}

		if ctx.Err() != nil {
			return "", 0, ctx.Err()
		}

		log.Debug("etcd join attempt failed", "err", err)

		select {
		case <-ctx.Done():
			return "", 0, ctx.Err()
		case <-time.After(etcdJoinRetry + rand.N(time.Second)):
		}
	}
}

// promoteMember is services/etcd.go promoteMember: every 15 s (plus jitter), for up to 10
// minutes, try to promote the learner through each control-plane endpoint in turn (the call
// fails until the learner has caught up with the leader).
func promoteMember(ctx context.Context, log *slog.Logger, cfg config.Provider, id uint64) error {
	ctx, cancel := context.WithTimeout(ctx, etcdPromoteTimeout)
	defer cancel()

	idx := 0

	for {
		err := func() error {
			attemptCtx, cancel := context.WithTimeout(ctx, etcdPromoteAttempt)
			defer cancel()

			endpoints, err := controlPlaneEndpoints(attemptCtx, cfg)
			if err != nil {
				return err
			}

			for range endpoints {
				endpoint := endpoints[idx%len(endpoints)]
				idx++

				if err = attemptPromote(attemptCtx, endpoint, id); err == nil {
					return nil
				}
			}

			return err
		}()
		if err == nil {
			log.Info("successfully promoted etcd member", "id", fmt.Sprintf("%x", id))

			return nil
		}

		log.Info("failed promoting member; retrying", "id", fmt.Sprintf("%x", id), "err", err)

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(etcdPromoteRetry + rand.N(time.Second)):
		}
	}
}

func attemptPromote(ctx context.Context, endpoint string, id uint64) error {
	client, err := newEtcdClient(ctx, []string{endpoint})
	if err != nil {
		return err
	}
	defer client.Close() //nolint:errcheck

	_, err = client.MemberPromote(ctx, id)

	return err
}

// validateQuorum is internal/pkg/etcd ValidateQuorum, Talos's etcd health check: a
// linearizable read goes through consensus (a learner cannot serve one).
func validateQuorum(ctx context.Context, client *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, etcdQuorumCheckTimeout)
	defer cancel()

	_, err := client.Get(ctx, "health")
	if errors.Is(err, rpctypes.ErrPermissionDenied) {
		return nil
	}

	return err
}

// localEtcdHealthy is the etcd service's health check (services/etcd.go HealthFunc).
func localEtcdHealthy(ctx context.Context, endpoint string) error {
	client, err := newEtcdClient(ctx, []string{endpoint})
	if err != nil {
		return err
	}
	defer client.Close() //nolint:errcheck

	return validateQuorum(ctx, client)
}

// validateForUpgrade is internal/pkg/etcd ValidateForUpgrade: a control plane may go down for an
// upgrade only if the cluster keeps quorum without it: not two members, and every member
// started and healthy.
func validateForUpgrade(ctx context.Context, client *clientv3.Client) error {
	resp, err := client.MemberList(ctx)
	if err != nil {
		return err
	}

	if len(resp.Members) == 2 {
		return fmt.Errorf("etcd member count(%d) is insufficient to maintain quorum if upgrade commences", len(resp.Members))
	}

	for _, member := range resp.Members {
		// If the member is not started, the name will be an empty string.
		if len(member.Name) == 0 {
			return fmt.Errorf("etcd member %016x is not started, all members must be running to perform an upgrade", member.ID)
		}

		if err = memberHealthy(ctx, member.GetClientURLs()); err != nil {
			return fmt.Errorf("etcd member %016x is not healthy; all members must be healthy to perform an upgrade: %w", member.ID, err)
		}
	}

	return nil
}

func memberHealthy(ctx context.Context, clientURLs []string) error {
	c, err := newEtcdClient(ctx, clientURLs)
	if err != nil {
		return fmt.Errorf("failed to create client to member: %w", err)
	}
	defer c.Close() //nolint:errcheck

	return validateQuorum(ctx, c)
}

// tryLockUpgradeMutex is v1alpha1_server.go tryLockUpgradeMutex: one upgrade's pre-checks at a
// time across the cluster (an etcd mutex on a 60 s session, held while the API call runs).
func tryLockUpgradeMutex(ctx context.Context, client *clientv3.Client) (func(), error) {
	sess, err := concurrency.NewSession(client, concurrency.WithContext(ctx), concurrency.WithTTL(upgradeLockTTL))
	if err != nil {
		return nil, fmt.Errorf("error establishing etcd concurrency session: %w", err)
	}

	mu := concurrency.NewMutex(sess, etcdUpgradeMutex)

	if err = mu.TryLock(ctx); err != nil {
		sess.Close() //nolint:errcheck

		return nil, fmt.Errorf("error trying to lock etcd upgrade mutex: %w", err)
	}

	return func() {
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()

		mu.Unlock(unlockCtx) //nolint:errcheck
		sess.Close()         //nolint:errcheck
	}, nil
}

// peerHost is the address part of a peer URL, for the "bootstrap one of these" message.
func peerHost(peerURL string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(peerURL, "http://"), "https://")
	if ap, err := netip.ParseAddrPort(rest); err == nil {
		return "[" + ap.Addr().String() + "]"
	}

	return "[" + rest + "]"
}

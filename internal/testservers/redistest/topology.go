package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireBinaries skips tb when a redis-server binary is missing, unless
// UCOAUTH_REQUIRE_REDIS_SERVER is set, which fails it instead: a Cluster or
// a Sentinel cannot be faked in process.
func RequireBinaries(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil && os.Getenv("UCOAUTH_FORCE_MINIREDIS") == "" {
		return path
	}
	if os.Getenv("UCOAUTH_REQUIRE_REDIS_SERVER") != "" {
		tb.Fatal("redistest: UCOAUTH_REQUIRE_REDIS_SERVER is set but redis-server is not on PATH")
	}
	tb.Skip("redistest: no redis-server on PATH (miniredis cannot do Cluster or Sentinel)")
	return ""
}

// Node is one redis-server process of a topology.
type Node struct {
	Addr    string
	Port    int
	args    []string
	path    string
	busPort string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func startNode(tb testing.TB, path, dir string, extra ...string) *Node {
	tb.Helper()
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	_, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)
	n := &Node{Addr: addr, Port: port, path: path}
	n.args = append([]string{"--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning", "--dir", dir}, extra...)
	if err := n.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Kill)
	return n
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	cmd := exec.Command(n.path, n.args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting %s: %w", n.path, err)
	}
	n.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(startWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("redistest: %s on %s did not answer", n.path, n.Addr)
}

// Kill stops the node with SIGKILL; it loses its data.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// Client returns a direct client to this node, closed when tb ends.
func (n *Node) Client(tb testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DialTimeout: time.Second})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Cluster is a running Redis Cluster of masters only, each owning an equal
// share of the slots.
type Cluster struct {
	Nodes []*Node
}

// StartCluster starts a Cluster of n masters on free loopback ports (data
// and cluster bus), in a temporary directory, stopped when tb ends.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	path := RequireBinaries(tb)
	dir := tb.TempDir()
	cl := &Cluster{}
	for i := range n {
		bus, err := freeAddr()
		if err != nil {
			tb.Fatal(err)
		}
		_, busPort, _ := net.SplitHostPort(bus)
		node := startNode(tb, path, dir, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)),
			"--cluster-port", busPort, "--cluster-node-timeout", "3000")
		node.busPort = busPort
		cl.Nodes = append(cl.Nodes, node)
	}
	ctx := context.Background()
	per := 16384 / n
	for i, node := range cl.Nodes {
		c := node.Client(tb)
		hi := (i+1)*per - 1
		if i == n-1 {
			hi = 16383
		}
		if err := c.Do(ctx, "cluster", "addslotsrange", i*per, hi).Err(); err != nil {
			tb.Fatalf("redistest: CLUSTER ADDSLOTSRANGE: %v", err)
		}
		if i > 0 {
			if err := cl.Nodes[0].Client(tb).Do(ctx, "cluster", "meet", "127.0.0.1", node.Port, node.busPort).Err(); err != nil {
				tb.Fatalf("redistest: CLUSTER MEET: %v", err)
			}
		}
	}
	cl.waitOK(tb)
	return cl
}

// waitOK waits until every node sees every node and a healthy cluster.
func (cl *Cluster) waitOK(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, node := range cl.Nodes {
		c := node.Client(tb)
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			nodes, err2 := c.ClusterNodes(context.Background()).Result()
			if err == nil && err2 == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Count(nodes, "connected") == len(cl.Nodes) {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster not ready: %v %v\n%s\n%s", err, err2, info, nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Addrs lists the nodes' addresses.
func (cl *Cluster) Addrs() []string {
	var a []string
	for _, n := range cl.Nodes {
		a = append(a, n.Addr)
	}
	return a
}

// Client returns a cluster client, closed when tb ends.
func (cl *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	tb.Cleanup(func() { c.Close() })
	return c
}

// NodeID returns the cluster node ID of the node at addr.
func (cl *Cluster) NodeID(tb testing.TB, n *Node) string {
	tb.Helper()
	id, err := n.Client(tb).Do(context.Background(), "cluster", "myid").Text()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER MYID: %v", err)
	}
	return id
}

// SlotOwner returns the node that owns slot.
func (cl *Cluster) SlotOwner(tb testing.TB, slot int) *Node {
	tb.Helper()
	per := 16384 / len(cl.Nodes)
	return cl.Nodes[min(slot/per, len(cl.Nodes)-1)]
}

// Sentinel is a master, a replica and one Sentinel monitoring them as
// MasterName.
type Sentinel struct {
	Master, Replica *Node
	Sentinel        *Node
	MasterName      string
}

// StartSentinel starts a master, its replica and a Sentinel (quorum 1,
// down after 1 s) on free loopback ports, stopped when tb ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	path := RequireBinaries(tb)
	dir := tb.TempDir()
	s := &Sentinel{MasterName: "ucoauth-test"}
	s.Master = startNode(tb, path, dir)
	s.Replica = startNode(tb, path, dir, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port))
	waitReplicas(tb, s.Master, 1)

	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	_, ps, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 4000\n", ps, dir, s.MasterName, s.Master.Port, s.MasterName, s.MasterName)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(ps)
	sn := &Node{Addr: addr, Port: port, path: path, args: []string{conf, "--sentinel", "--loglevel", "warning"}}
	if err := sn.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sn.Kill)
	s.Sentinel = sn
	s.waitMaster(tb, s.Master.Addr, 1)
	return s
}

// waitReplicas waits until n replicas are online at the master.
func waitReplicas(tb testing.TB, master *Node, n int) {
	tb.Helper()
	c := master.Client(tb)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, fmt.Sprintf("connected_slaves:%d", n)) &&
			(n == 0 || strings.Contains(info, "state=online")) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s never had %d replicas online: %v\n%s", master.Addr, n, err, info)
		}
	}
}

// waitMaster waits until the Sentinel names addr as master and knows
// replicas of it.
func (s *Sentinel) waitMaster(tb testing.TB, addr string, replicas int) {
	tb.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr})
	defer c.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err := c.GetMasterAddrByName(context.Background(), s.MasterName).Result()
		rs, err2 := c.Replicas(context.Background(), s.MasterName).Result()
		if err == nil && err2 == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == addr && countOnline(rs) >= replicas {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel never settled on master %s with %d replicas: %v %v %v %v", addr, replicas, got, err, err2, rs)
		}
	}
}

func countOnline(rs []map[string]string) int {
	n := 0
	for _, r := range rs {
		if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
			n++
		}
	}
	return n
}

// Failover makes the Sentinel promote the replica (SENTINEL FAILOVER),
// waits until clients are told of the new master, and makes the old master
// a replica of it; s.Master and s.Replica swap. Until then the old master
// still takes writes that its demotion will discard: the window in which
// data is lost.
func (s *Sentinel) Failover(tb testing.TB) {
	tb.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr})
	defer c.Close()
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Refused while the previous failover is still settling.
		if err = c.Failover(context.Background(), s.MasterName).Err(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
		}
	}
	s.Master, s.Replica = s.Replica, s.Master
	s.waitMaster(tb, s.Master.Addr, 0)
	// The Sentinel would demote the old master only once it next looks at
	// it (up to 10 s and more); do it now, as it would.
	if err := s.Replica.Client(tb).ReplicaOf(context.Background(), "127.0.0.1", strconv.Itoa(s.Master.Port)).Err(); err != nil {
		tb.Fatalf("redistest: REPLICAOF: %v", err)
	}
	waitReplicas(tb, s.Master, 1)
}

// Client returns a failover client through the Sentinel, closed when tb
// ends.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	c := redis.NewFailoverClient(s.FailoverOptions())
	tb.Cleanup(func() { c.Close() })
	return c
}

// FailoverOptions are the options of a client through the Sentinel.
func (s *Sentinel) FailoverOptions() *redis.FailoverOptions {
	return &redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: []string{s.Sentinel.Addr},
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second}
}

// Freeze stops the node (SIGSTOP) without closing its connections, as a
// stalled or partitioned server looks; Thaw resumes it.
func (n *Node) Freeze() { n.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen node.
func (n *Node) Thaw() { n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig os.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// KillMaster kills the master (SIGKILL): s.Master becomes the replica the
// Sentinel is about to promote (see WaitPromoted), s.Replica the dead node.
func (s *Sentinel) KillMaster() {
	s.Master.Kill()
	s.Master, s.Replica = s.Replica, s.Master
}

// WaitPromoted waits until the Sentinel names s.Master as the master.
func (s *Sentinel) WaitPromoted(tb testing.TB) {
	tb.Helper()
	s.waitMaster(tb, s.Master.Addr, 0)
}

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clusterBusOffset is the distance from a node's port to its cluster bus
// port, fixed by Redis.
const clusterBusOffset = 10000

// RedisCluster is a Redis Cluster of masters without replicas, started for a
// test.
type RedisCluster struct {
	nodes []*Redis
}

// MustRedisCluster starts masters redis-server processes (at least 3, the
// minimum redis-cli accepts) in cluster mode on free 127.0.0.1 ports, joins
// them with redis-cli --cluster create, waits until every node reports
// cluster_state:ok, and stops them when the test ends.
func MustRedisCluster(tb testing.TB, masters int) *RedisCluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("testenv: a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	bin := lookBinary(tb, "redis-server", "redis-server")
	cli := lookBinary(tb, "redis-cli", "redis-tools")
	c := &RedisCluster{}
	tb.Cleanup(func() {
		for _, n := range c.nodes {
			n.stop(syscall.SIGKILL)
		}
	})
	for range masters {
		n := &Redis{tb: tb, bin: bin, dir: tb.TempDir()}
		if err := n.startClusterNode(); err != nil {
			tb.Fatalf("testenv: start cluster node: %v", err)
		}
		c.nodes = append(c.nodes, n)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(); err != nil {
		tb.Fatalf("testenv: redis cluster: %v", err)
	}
	return c
}

// startClusterNode starts n in cluster mode on a port whose cluster bus
// port is free too, retrying on a port clash.
func (n *Redis) startClusterNode() error {
	var err error
	for range 10 {
		if n.port, err = freePort(); err != nil {
			return err
		}
		if n.port+clusterBusOffset > 65535 || !portFree(n.port+clusterBusOffset) {
			err = fmt.Errorf("cluster bus port %d unavailable", n.port+clusterBusOffset)
			continue
		}
		os.Remove(filepath.Join(n.dir, "nodes.conf"))
		n.args = []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(n.dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
		}
		err = n.start()
		if err == nil || !errAddrInUse(err) {
			return err
		}
	}
	return err
}

// Addrs returns the host:port of every master.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the node processes, for tests that stop one. A restarted
// node keeps its nodes.conf and rejoins the cluster with its slots.
func (c *RedisCluster) Nodes() []*Redis { return c.nodes }

// waitOK waits until every node sees the whole cluster: all slots covered
// and every node known, so a client can be routed from any of them.
func (c *RedisCluster) waitOK() error {
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.nodes {
		for {
			info, err := redisDo(n.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes))+"\r\n") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s not ok after %v: %v\n%s", n.Addr(), startTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
)

// startMeta runs a one-member strand-meta and returns its API address.
func startMeta(t *testing.T) string {
	t.Helper()
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "meta.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(metaBinary, "--id", "1", "--listen", api, "--initial-cluster", "1="+api,
		"--data-dir", filepath.Join(dir, "data"), "--cluster-id", "ctl-test")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			lines := strings.Split(string(data), "\n")
			t.Logf("strand-meta log tail:\n%s", strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
		logf.Close()
	})
	mc := metaclient.New([]string{api})
	checkFor(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := mc.Propose(ctx, &wire.Command{Type: wire.CmdNoop})
		return err
	})
	return api
}

// dataNode is a data node as far as the control plane sees it: registered
// in strand-meta and a member of the gossip pool.
type dataNode struct {
	id          int32
	pool        *membership.Pool
	incarnation int64
}

func (d *dataNode) start(t *testing.T, mc *metaclient.Client, join string) {
	t.Helper()
	cfg := membership.Config{Role: membership.RoleData, ID: strconv.Itoa(int(d.id)), APIAddr: fmt.Sprintf("127.0.0.1:%d", 1000+d.id),
		BindAddr: "127.0.0.1:0", RetryJoin: 100 * time.Millisecond}
	if join != "" {
		cfg.Join = []string{join}
	}
	var pool *membership.Pool
	checkFor(t, 30*time.Second, func() error {
		p, err := membership.New(cfg)
		pool = p
		return err
	})
	t.Cleanup(func() { _ = pool.Shutdown() })
	d.pool = pool
	d.incarnation = time.Now().UnixNano()
	if _, err := mc.Propose(t.Context(), &wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
		ID: d.id, Addr: cfg.APIAddr, GossipAddr: pool.LocalAddr(), Incarnation: d.incarnation,
	}}}); err != nil {
		t.Fatal(err)
	}
}

// TestRealMetaElectionTiming runs strand-meta and two controllers, two data
// nodes and, per round, a topic of 2,000 partitions with replication factor
// 2 (so each node leads 1,000); it kills one data node's gossip and
// measures: kill to member-failed at a surviving member (detection), and
// detection to the image having new leaders for all 1,000 partitions.
// Rounds: 3, or STRAND_ELECTION_ROUNDS.
func TestRealMetaElectionTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing run")
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("STRAND_ELECTION_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	metaAddr := startMeta(t)
	mc := metaclient.New([]string{metaAddr})
	nodes := []*dataNode{{id: 1}, {id: 2}}
	nodes[0].start(t, mc, "")
	seed := nodes[0].pool.LocalAddr()
	nodes[1].start(t, mc, seed)
	a := startProc(t, "controller-a", metaAddr, seed)
	b := startProc(t, "controller-b", metaAddr, seed)
	active := waitActive(t, a, b)
	image := func() *wire.Image {
		img, err := mc.Image(t.Context(), true)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	waitUnfenced := func() {
		checkFor(t, 60*time.Second, func() error {
			for id, n := range image().Nodes {
				if n.Fenced {
					return fmt.Errorf("node %d fenced", id)
				}
			}
			return nil
		})
	}
	waitUnfenced()

	var detect, elect, total []time.Duration
	for r := 0; r < rounds; r++ {
		topic := fmt.Sprintf("round-%d", r)
		checkFor(t, 30*time.Second, func() error {
			return post(t, active.api, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: topic, Partitions: 2000, ReplicationFactor: 2}, nil)
		})
		victim, survivor := nodes[r%2], nodes[(r+1)%2]
		led := 0
		for _, p := range image().Topics[topic].Partitions {
			if p.Leader == victim.id {
				led++
			}
		}
		if led != 1000 {
			t.Fatalf("victim leads %d partitions", led)
		}
		// Drain stale events, kill, and time.
		for len(survivor.pool.Events()) > 0 {
			<-survivor.pool.Events()
		}
		killed := time.Now()
		_ = victim.pool.Shutdown()
		var detected time.Time
		name := membership.MemberName(membership.RoleData, strconv.Itoa(int(victim.id)))
		for detected.IsZero() {
			select {
			case ev := <-survivor.pool.Events():
				if ev.Type == membership.EventFailed && ev.Member.Name == name {
					detected = ev.At
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no member-failed")
			}
		}
		var done time.Time
		var after uint64
		for done.IsZero() {
			img, err := mc.Watch(t.Context(), after)
			if err != nil {
				t.Fatal(err)
			}
			after = img.Version
			moved := 0
			for _, p := range img.Topics[topic].Partitions {
				if p.Leader == survivor.id {
					moved++
				}
			}
			if moved == 2000 {
				done = time.Now()
			}
			if time.Since(killed) > 60*time.Second {
				t.Fatalf("round %d: %d of 2000 partitions led by the survivor", r, moved)
			}
		}
		detect = append(detect, detected.Sub(killed))
		elect = append(elect, done.Sub(detected))
		total = append(total, done.Sub(killed))
		t.Logf("round %d: detection %v, 1,000 elections after detection %v, kill to all re-led %v",
			r, detected.Sub(killed).Round(time.Millisecond), done.Sub(detected).Round(time.Millisecond), done.Sub(killed).Round(time.Millisecond))

		// The node comes back (a restart: new incarnation, fenced until
		// gossip sees it), and the round's topic goes.
		victim.start(t, mc, survivor.pool.LocalAddr())
		waitUnfenced()
		if err := deleteTopic(active.api, topic); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("over %d rounds: detection median %v max %v; elections after detection median %v max %v; kill to re-led median %v max %v",
		rounds, median(detect), slices.Max(detect), median(elect), slices.Max(elect), median(total), slices.Max(total))
}

func deleteTopic(addr, topic string) error {
	req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+wire.PathAdminTopics+"?topic="+topic, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/wire"
)

// rounds reads a round count from the environment, with a default.
func rounds(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// runProducers starts one sequence producer per partition; stop ends them
// and waits.
func runProducers(c *cluster, topic string, parts int32, firstSeq int64, timeout time.Duration) ([]*seqProducer, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	prods := make([]*seqProducer, parts)
	for p := range parts {
		prods[p] = newSeqProducer(c, topic, p)
		prods[p].next = firstSeq
		if timeout > 0 {
			prods[p].timeout = timeout
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			prods[p].run(ctx)
		}()
	}
	var once sync.Once
	return prods, func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// waitCaughtUp waits until every replica of every partition of topic has
// the leader's log end offset and the leader's high watermark is there too.
func (c *cluster) waitCaughtUp(topic string, timeout time.Duration) {
	c.t.Helper()
	c.eventually(timeout, "replicas of "+topic+" caught up", func() error {
		img := c.image()
		t := img.Topics[topic]
		for _, p := range t.Partitions {
			name := fmt.Sprintf("%s-%d", topic, p.Partition)
			var leo int64 = -1
			for _, r := range p.Replicas {
				lp, err := c.localPartitions(c.node(r))
				if err != nil {
					return err
				}
				got, ok := lp[name]
				if !ok {
					return fmt.Errorf("%s: node %d has no replica", name, r)
				}
				if leo >= 0 && got.LogEndOffset != leo {
					return fmt.Errorf("%s: node %d at %d, another at %d", name, r, got.LogEndOffset, leo)
				}
				leo = got.LogEndOffset
				if r == p.Leader && got.HighWatermark != got.LogEndOffset {
					return fmt.Errorf("%s: leader's high watermark %d below its log end %d", name, got.HighWatermark, got.LogEndOffset)
				}
			}
		}
		return nil
	})
}

// verify checks every partition's records against its producer and the
// replicas against each other.
func (c *cluster) verify(topic string, prods []*seqProducer) {
	c.t.Helper()
	c.waitFullISR(topic, 120*time.Second)
	c.waitCaughtUp(topic, 120*time.Second)
	for p, prod := range prods {
		prod.check(c.t, c.readAll(topic, int32(p)))
		c.checkReplicasIdentical(topic, int32(p))
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestLeaderKillRestart: RF=3, min.insync.replicas=2, acks=all producers on
// every partition; the leader of one partition after another is SIGKILLed
// and restarted (at least 20 rounds, STRAND_E2E_KILLS to change). At the end
// every acknowledged record is in its partition exactly once and in order,
// and the replicas are byte-identical below the high watermark.
func TestLeaderKillRestart(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	const topic, parts = "kills", int32(3)
	c.createTopic(topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	c.waitFullISR(topic, 60*time.Second)
	prods, stop := runProducers(c, topic, parts, 0, 0)
	defer stop()
	n := rounds("STRAND_E2E_KILLS", 20)
	var toEpoch, toProduce []time.Duration
	for r := range n {
		p := int32(r) % parts
		before := partition(c.image(), topic, p)
		victim := c.node(before.Leader)
		killed := time.Now()
		victim.kill()
		var elected time.Time
		c.eventually(30*time.Second, fmt.Sprintf("round %d: a new leader of %s-%d", r, topic, p), func() error {
			rec := partition(c.image(), topic, p)
			if rec.LeaderEpoch <= before.LeaderEpoch || rec.Leader < 0 || rec.Leader == victim.id {
				return fmt.Errorf("leader %d epoch %d", rec.Leader, rec.LeaderEpoch)
			}
			if !slices.Contains(before.ISR, rec.Leader) {
				t.Fatalf("round %d: new leader %d was not in the ISR %v", r, rec.Leader, before.ISR)
			}
			elected = time.Now()
			return nil
		})
		var produced time.Time
		c.eventually(30*time.Second, fmt.Sprintf("round %d: produce to the new leader", r), func() error {
			if produced = prods[p].firstOKAfter(elected); produced.IsZero() {
				return errors.New("no acknowledgement yet")
			}
			return nil
		})
		toEpoch = append(toEpoch, elected.Sub(killed))
		toProduce = append(toProduce, produced.Sub(killed))
		t.Logf("round %d: killed node %d (leader of %s-%d): new leader epoch after %v, first produce after %v",
			r, victim.id, topic, p, elected.Sub(killed).Round(time.Millisecond), produced.Sub(killed).Round(time.Millisecond))
		c.restart(victim)
		c.waitFullISR(topic, 120*time.Second)
	}
	stop()
	c.verify(topic, prods)
	t.Logf("over %d kills: kill to new leader epoch in the image: median %v, max %v; kill to first acknowledged produce: median %v, max %v",
		n, median(toEpoch).Round(time.Millisecond), slices.Max(toEpoch).Round(time.Millisecond),
		median(toProduce).Round(time.Millisecond), slices.Max(toProduce).Round(time.Millisecond))
}

// TestFollowerStall: a follower stopped with SIGSTOP leaves the ISR and
// acks=all goes on; with both followers stopped a produce is refused with
// NOT_ENOUGH_REPLICAS, quickly; after SIGCONT both catch up and rejoin.
func TestFollowerStall(t *testing.T) {
	c := startCluster(t, clusterOptions{lagMax: 2 * time.Second})
	const topic = "stall"
	c.createTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	c.waitFullISR(topic, 60*time.Second)
	rec := partition(c.image(), topic, 0)
	var followers []*dataNode
	for _, r := range rec.Replicas {
		if r != rec.Leader {
			followers = append(followers, c.node(r))
		}
	}
	for _, f := range followers {
		t.Cleanup(func() { f.signal(syscall.SIGCONT) })
	}
	prods, stop := runProducers(c, topic, 1, 0, 5*time.Second)
	prod := prods[0]
	c.eventually(30*time.Second, "first acknowledgements", func() error {
		if prod.ackedCount() == 0 {
			return errors.New("none")
		}
		return nil
	})

	followers[0].signal(syscall.SIGSTOP)
	c.eventually(30*time.Second, "the stopped follower leaves the ISR", func() error {
		if isr := partition(c.image(), topic, 0).ISR; slices.Contains(isr, followers[0].id) {
			return fmt.Errorf("isr %v", isr)
		}
		return nil
	})
	n := prod.ackedCount()
	c.eventually(30*time.Second, "acks=all goes on with one follower stopped", func() error {
		if prod.ackedCount() < n+100 {
			return fmt.Errorf("%d acknowledged", prod.ackedCount()-n)
		}
		return nil
	})

	followers[1].signal(syscall.SIGSTOP)
	c.eventually(30*time.Second, "the ISR shrinks to the leader", func() error {
		if isr := partition(c.image(), topic, 0).ISR; len(isr) != 1 {
			return fmt.Errorf("isr %v", isr)
		}
		return nil
	})
	stop()
	for i := range 5 {
		start := time.Now()
		code := prod.once(context.Background())
		took := time.Since(start)
		if code != wire.CodeNotEnoughReplicas {
			t.Fatalf("produce %d with both followers stopped: %q, want NOT_ENOUGH_REPLICAS", i, code)
		}
		if took > 2*time.Second {
			t.Fatalf("NOT_ENOUGH_REPLICAS took %v", took)
		}
	}

	for _, f := range followers {
		f.signal(syscall.SIGCONT)
	}
	c.waitFullISR(topic, 90*time.Second)
	prods2, stop2 := runProducers(c, topic, 1, prod.next+1_000_000, 0)
	c.eventually(30*time.Second, "acks=all after the followers rejoined", func() error {
		if prods2[0].ackedCount() < 100 {
			return fmt.Errorf("%d acknowledged", prods2[0].ackedCount())
		}
		return nil
	})
	stop2()
	// Both producers' acknowledged records are there once and in order.
	prod.acked = append(prod.acked, prods2[0].acked...)
	prod.firsts = append(prod.firsts, prods2[0].firsts...)
	prod.ackedN += prods2[0].ackedN
	c.verify(topic, []*seqProducer{prod})
}

// TestDataNodeKillFailover: SIGKILL of a data node leading partitions gives
// each of them a new leader from its ISR, which takes produce.
func TestDataNodeKillFailover(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	const topic, parts = "failover", int32(6)
	c.createTopic(topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	c.waitFullISR(topic, 60*time.Second)
	img := c.image()
	counts := map[int32]int{}
	for _, p := range img.Topics[topic].Partitions {
		counts[p.Leader]++
	}
	var victim *dataNode
	for _, d := range c.data {
		if victim == nil || counts[d.id] > counts[victim.id] {
			victim = d
		}
	}
	led := map[int32]*wire.PartitionRecord{}
	for _, p := range img.Topics[topic].Partitions {
		if p.Leader == victim.id {
			led[p.Partition] = p
		}
	}
	victim.kill()
	c.eventually(30*time.Second, "new leaders from the ISR", func() error {
		now := c.image()
		for pi, before := range led {
			rec := partition(now, topic, pi)
			if rec.Leader < 0 || rec.Leader == victim.id || rec.LeaderEpoch <= before.LeaderEpoch {
				return fmt.Errorf("partition %d: leader %d epoch %d", pi, rec.Leader, rec.LeaderEpoch)
			}
			if !slices.Contains(before.ISR, rec.Leader) {
				t.Fatalf("partition %d: new leader %d not in the ISR %v", pi, rec.Leader, before.ISR)
			}
		}
		return nil
	})
	for pi := range led {
		prod := newSeqProducer(c, topic, pi)
		c.eventually(30*time.Second, fmt.Sprintf("produce to partition %d", pi), func() error {
			if code := prod.once(context.Background()); code != "" {
				return errors.New(string(code))
			}
			return nil
		})
	}
	c.restart(victim)
	c.waitFullISR(topic, 90*time.Second)

	// Deleting the topic deletes its data on every node.
	c.deleteTopic(topic)
	c.eventually(60*time.Second, "the topic's data deleted everywhere", func() error {
		for _, d := range c.data {
			left, _ := filepath.Glob(filepath.Join(d.dir, topic+"-*"))
			if len(left) > 0 {
				return fmt.Errorf("node %d still has %v", d.id, left)
			}
		}
		return nil
	})
}

// TestControlledShutdown: SIGTERM of a data node that leads partitions
// moves its leaderships to in-sync replicas before it exits (exit code 0),
// so producers only see retriable answers, and nothing acknowledged is lost.
func TestControlledShutdown(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	const topic, parts = "graceful", int32(3)
	c.createTopic(topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	c.waitFullISR(topic, 60*time.Second)
	prods, stop := runProducers(c, topic, parts, 0, 0)
	defer stop()
	img := c.image()
	counts := map[int32]int{}
	for _, p := range img.Topics[topic].Partitions {
		counts[p.Leader]++
	}
	var victim *dataNode
	for _, d := range c.data {
		if victim == nil || counts[d.id] > counts[victim.id] {
			victim = d
		}
	}
	c.eventually(30*time.Second, "first acknowledgements", func() error {
		for _, p := range prods {
			if p.ackedCount() == 0 {
				return errors.New("none yet")
			}
		}
		return nil
	})
	// Watch the image while the node stops: when did it last lead?
	var mu sync.Mutex
	lastLed := time.Now() // it leads now
	watchCtx, watchStop := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			ctx, cancel := context.WithTimeout(watchCtx, 2*time.Second)
			now, err := c.meta.Image(ctx, false)
			cancel()
			if err == nil {
				for _, p := range now.Topics[topic].Partitions {
					if p.Leader == victim.id {
						mu.Lock()
						lastLed = time.Now()
						mu.Unlock()
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	if err := victim.Stop(60 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, victim.Tail(3000))
	}
	exited := time.Now()
	watchStop()
	<-watched
	mu.Lock()
	led := lastLed
	mu.Unlock()
	if !led.Before(exited) {
		t.Fatalf("node %d still led partitions when it exited", victim.id)
	}
	t.Logf("node %d (leader of %d partitions) stopped in %v; its leaderships moved %v before it exited",
		victim.id, counts[victim.id], exited.Sub(start).Round(time.Millisecond), exited.Sub(led).Round(time.Millisecond))
	for pi, p := range prods {
		p.mu.Lock()
		for code := range p.errs {
			if !wire.Code(code).Retriable() && code != "NETWORK_EXCEPTION" {
				t.Errorf("partition %d: a producer saw %s", pi, code)
			}
		}
		p.mu.Unlock()
	}
	c.restart(victim)
	stop()
	c.verify(topic, prods)
}

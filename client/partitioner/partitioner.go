package partitioner

import (
	"math/rand/v2"
	"sync"
)

// Partitioner makes one TopicPartitioner per topic a producer writes to. A
// producer calls ForTopic once per topic and keeps the result.
type Partitioner interface {
	ForTopic(topic string) TopicPartitioner
}

// TopicPartitioner picks partitions for the records of one topic. The
// producer calls it from Send, possibly from several goroutines at once, so
// implementations must be safe for concurrent use.
type TopicPartitioner interface {
	// Partition returns a partition in [0, n) for a record with this key; a
	// nil key means the record has none (an empty, non-nil key is a key and
	// is hashed). n is the topic's current partition count, at least 1.
	Partition(key []byte, n int) int
	// OnNewBatch tells the partitioner that the producer sealed the batch it
	// was filling for partition p (it became full or its linger expired).
	// Sticky policies move on to another partition; others ignore it.
	OnNewBatch(p int)
}

// Default returns Kafka's default partitioning: murmur2 for records with a
// key, sticky batches for records without one.
func Default() Partitioner { return stickyFactory{} }

// RoundRobin returns murmur2 for records with a key and round-robin over all
// partitions, record by record, for records without one.
func RoundRobin() Partitioner { return roundRobinFactory{} }

// Manual returns the partitioner that sends every record to the partition
// set in the record itself (producer.Record.Partition). The producer
// recognises it; its TopicPartitioner is never asked for a partition.
func Manual() Partitioner { return ManualPartitioner{} }

// ManualPartitioner is the type Manual returns; the producer checks for it.
type ManualPartitioner struct{}

// ForTopic implements Partitioner.
func (ManualPartitioner) ForTopic(string) TopicPartitioner { return manualTopic{} }

type manualTopic struct{}

func (manualTopic) Partition([]byte, int) int { return 0 }
func (manualTopic) OnNewBatch(int)            {}

type stickyFactory struct{}

func (stickyFactory) ForTopic(string) TopicPartitioner { return &sticky{current: -1} }

// sticky keeps records without a key on one partition until its batch is
// sealed. mu guards current: a partition in [0, n), -1 for none chosen yet,
// or -2-p after the batch of partition p was sealed (choose again, avoiding p).
type sticky struct {
	mu      sync.Mutex
	current int
}

func (s *sticky) Partition(key []byte, n int) int {
	if key != nil {
		return KeyPartition(key, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.current <= -2 && n > 1:
		avoid := -2 - s.current
		c := rand.IntN(n - 1)
		if c >= avoid {
			c++
		}
		s.current = c
	case s.current < 0 || s.current >= n:
		s.current = rand.IntN(n)
	}
	return s.current
}

func (s *sticky) OnNewBatch(p int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != s.current {
		return
	}
	// Move to another partition, chosen at random among the others, when
	// the next record without a key arrives. The partition count is not
	// known here, so remember the one to avoid.
	s.current = -2 - p
}

type roundRobinFactory struct{}

func (roundRobinFactory) ForTopic(string) TopicPartitioner { return &roundRobin{} }

// roundRobin spreads records without a key one by one. mu guards next.
type roundRobin struct {
	mu   sync.Mutex
	next int
}

func (r *roundRobin) Partition(key []byte, n int) int {
	if key != nil {
		return KeyPartition(key, n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.next % n
	r.next = p + 1
	return p
}

func (r *roundRobin) OnNewBatch(int) {}

package admin

import (
	"context"
	"net/http"
	"sort"
	"sync"

	"strand.dev/client/wire"
)

// TopicDescription is a topic with the state of each partition.
type TopicDescription struct {
	Name       string                 `json:"name"`
	ID         string                 `json:"id"`
	Configs    map[string]string      `json:"configs,omitempty"`
	Partitions []PartitionDescription `json:"partitions"`
}

// PartitionDescription is one partition: its leadership from the metadata
// and its offsets as its leader reports them. LogStartOffset, HighWatermark
// and SizeBytes are -1 when the leader could not be asked; Error says why.
type PartitionDescription struct {
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
	SizeBytes      int64   `json:"size_bytes"`
	Error          string  `json:"error,omitempty"`
}

// DescribeTopic returns a topic's partitions with leader, leader epoch,
// replicas, ISR, log start offset and high watermark. The offsets come from
// each partition's leader; a leader that cannot be asked leaves its
// partitions' offsets at -1 with Error set, and DescribeTopic still succeeds.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (*TopicDescription, error) {
	md, err := a.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	t, ok := md.Topic(name)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", name)
	}
	d := &TopicDescription{Name: t.Name, ID: t.ID, Configs: t.Configs}
	leaders := map[int32]bool{} // the nodes leading partitions of the topic
	for _, p := range t.Partitions {
		d.Partitions = append(d.Partitions, PartitionDescription{
			Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			Replicas: p.Replicas, ISR: p.ISR, LogStartOffset: -1, HighWatermark: -1, SizeBytes: -1,
		})
		i := len(d.Partitions) - 1
		if p.Leader < 0 {
			d.Partitions[i].Error = "no leader"
			continue
		}
		leaders[p.Leader] = true
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Partition < d.Partitions[j].Partition })
	// Indexes were taken before sorting; rebuild them by partition number.
	index := map[int32]int{}
	for i, p := range d.Partitions {
		index[p.Partition] = i
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex // guards d.Partitions' offset fields while the leaders answer
	)
	for leader := range leaders {
		node, ok := md.Node(leader)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp wire.LocalPartitionsResponse
			var err error
			if !ok {
				err = wire.Errorf(wire.CodeLeaderNotAvailable, "leader %d is not among the known nodes", leader)
			} else {
				err = a.tr.JSON(ctx, http.MethodGet, node.Addr, wire.PathAdminPartitions, nil, nil, &resp)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, p := range t.Partitions {
					if p.Leader == leader {
						d.Partitions[index[p.Partition]].Error = err.Error()
					}
				}
				return
			}
			for _, lp := range resp.Partitions {
				i, ok := index[lp.Partition]
				if lp.Topic != name || !ok || d.Partitions[i].Leader != leader {
					continue
				}
				d.Partitions[i].LogStartOffset = lp.LogStartOffset
				d.Partitions[i].HighWatermark = lp.HighWatermark
				d.Partitions[i].SizeBytes = lp.SizeBytes
			}
		}()
	}
	wg.Wait()
	for i := range d.Partitions {
		p := &d.Partitions[i]
		if p.Error == "" && p.HighWatermark < 0 {
			p.Error = "the leader does not report this partition"
		}
	}
	return d, nil
}

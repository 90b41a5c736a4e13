package admin

import (
	"context"
	"sort"
	"sync"
	"time"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
)

// ClusterStatus is the state of the whole cluster as a client sees it.
type ClusterStatus struct {
	ClusterID string `json:"cluster_id"`
	// MetadataVersion is the metadata image version (0 on a standalone data
	// node, which runs without strand-meta).
	MetadataVersion uint64 `json:"metadata_version"`
	// Standalone is set when the cluster is a data node without a control
	// plane.
	Standalone bool `json:"standalone"`
	// MetaNodes are the strand-meta nodes, with their raft view.
	MetaNodes []MetaNodeStatus `json:"meta_nodes"`
	// RaftLeader is the strand-meta raft leader's id (0 when unknown).
	RaftLeader uint64 `json:"raft_leader"`
	// Controller is the active controller's address ("" when none).
	Controller string `json:"controller"`
	// Coordinators are the live coordinators' addresses.
	Coordinators []string `json:"coordinators"`
	// DataNodes are the registered data nodes.
	DataNodes []DataNodeStatus `json:"data_nodes"`
}

// MetaNodeStatus is one strand-meta node. Error is set (and the rest zero)
// when it did not answer.
type MetaNodeStatus struct {
	Addr         string `json:"addr"`
	ID           uint64 `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	Leader       uint64 `json:"leader"`
	CommitIndex  uint64 `json:"commit_index"`
	ImageVersion uint64 `json:"image_version"`
	Error        string `json:"error,omitempty"`
}

// DataNodeStatus is one data node: Alive when it is not fenced and answers
// its health check.
type DataNodeStatus struct {
	ID     int32  `json:"id"`
	Addr   string `json:"addr"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced"`
	Alive  bool   `json:"alive"`
	Error  string `json:"error,omitempty"`
	// Leads is how many partitions it leads.
	Leads int `json:"leads"`
}

// probeTimeout bounds each health or status probe.
const probeTimeout = 3 * time.Second

// ClusterStatus reports metadata nodes and their raft leader, the active
// controller, the coordinators and the data nodes, alive or failed. Nodes
// that do not answer are reported with an error; ClusterStatus fails only
// when no node gives the cluster metadata.
func (a *Admin) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	md, err := a.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	st := &ClusterStatus{
		ClusterID: md.ClusterID, MetadataVersion: md.Version, Controller: md.ControllerAddr,
		Coordinators: append([]string(nil), md.Coordinators...),
	}
	leads := map[int32]int{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			if p.Leader >= 0 {
				leads[p.Leader]++
			}
		}
	}
	for _, n := range md.Nodes {
		st.DataNodes = append(st.DataNodes, DataNodeStatus{ID: n.ID, Addr: n.Addr, Rack: n.Rack, Fenced: n.Fenced, Leads: leads[n.ID]})
	}
	var metaAddrs []string
	if md.Version > 0 || len(md.MetaAddrs) > 0 {
		metaAddrs = a.metaAddrsOf(md)
	}
	st.Standalone = len(metaAddrs) == 0

	var wg sync.WaitGroup
	for i := range st.DataNodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := &st.DataNodes[i]
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if err := a.tr.Health(pctx, n.Addr); err != nil {
				n.Error = err.Error()
				return
			}
			n.Alive = !n.Fenced
		}()
	}
	st.MetaNodes = make([]MetaNodeStatus, len(metaAddrs))
	if len(metaAddrs) > 0 {
		mc := metaclient.New(metaAddrs, metaclient.WithTimeout(probeTimeout), metaclient.WithLogger(a.cfg.conn.Logger))
		defer mc.Close()
		for i, addr := range metaAddrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, probeTimeout)
				defer cancel()
				ms := MetaNodeStatus{Addr: addr}
				s, err := mc.Status(pctx, addr)
				if err != nil {
					ms.Error = err.Error()
				} else {
					ms.ID, ms.State, ms.Term, ms.Leader = s.ID, s.State, s.Term, s.Leader
					ms.CommitIndex, ms.ImageVersion = s.CommitIndex, s.ImageVersion
				}
				st.MetaNodes[i] = ms
			}()
		}
	}
	wg.Wait()
	var bestTerm uint64
	for _, m := range st.MetaNodes {
		if m.Error == "" && m.Leader != 0 && m.Term >= bestTerm {
			st.RaftLeader, bestTerm = m.Leader, m.Term
		}
	}
	sort.Slice(st.DataNodes, func(i, j int) bool { return st.DataNodes[i].ID < st.DataNodes[j].ID })
	return st, nil
}

// metaAddrsOf is where the strand-meta API is: the metadata's list, or the
// bootstrap nodes that are not data nodes.
func (a *Admin) metaAddrsOf(md *wire.Metadata) []string {
	if len(md.MetaAddrs) > 0 {
		return append([]string(nil), md.MetaAddrs...)
	}
	data := map[string]bool{}
	for _, n := range md.Nodes {
		data[n.Addr] = true
	}
	var out []string
	for _, b := range a.cfg.conn.Bootstrap {
		if !data[b] {
			out = append(out, b)
		}
	}
	return out
}

// MetaClient returns a client of the cluster's strand-meta nodes (found from
// the metadata, or the bootstrap nodes that are not data nodes), for raft
// membership and status. Close it when done. It fails when the cluster has
// no strand-meta (a standalone data node).
func (a *Admin) MetaClient(ctx context.Context) (*metaclient.Client, error) {
	md, err := a.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	addrs := a.metaAddrsOf(md)
	if len(addrs) == 0 || md.Version == 0 && len(md.MetaAddrs) == 0 {
		return nil, ErrNoMeta
	}
	return metaclient.New(addrs, metaclient.WithLogger(a.cfg.conn.Logger)), nil
}

package raft

import (
	hraft "github.com/hashicorp/raft"
)

// WithoutPipelining wraps any raft transport so that raft never uses
// pipelined replication: AppendEntriesPipeline answers
// ErrPipelineReplicationNotSupported, and raft keeps replicating with one
// AppendEntries round trip at a time (each carrying every entry queued
// meanwhile, up to MaxAppendEntries). Every other call, and the optional
// WithPreVote and WithClose interfaces when the wrapped transport has them,
// pass straight through.
//
// Why: hashicorp/raft's pipeline can deadlock (hashicorp/raft#612). With
// the network transport's default of 2 RPCs in flight both of the
// pipeline's channels are unbuffered. When a follower answers
// Success=false (a failed or timed-out log write, a newer term, a read
// error), raft's pipelineDecode returns and nobody reads the pipeline's
// done channel again; if the leader's send loop then picks one more send
// before it notices, that send waits on the in-flight channel while the
// pipeline's decoder waits on the done channel, for ever. The pipeline's
// Close, which would free both, runs only once that send returns. The
// follower then gets heartbeats but no entries (so no election heals it)
// and raft.Shutdown on the leader never returns. Without the pipeline the
// replication loop has no such channel handoff. What it costs is measured
// in docs/BENCHMARKS.md: nothing that stood out from the noise of a
// shared machine, because with group commit each AppendEntries carries
// everything queued while the previous one was out, and a follower
// handles one connection's RPCs in order anyway.
//
// The alternative, keeping the pipeline behind a wrapper that always
// drains its response channel, also removes this deadlock (it passes the
// same test), but its correctness rests on how raft's replication loop and
// the network transport hand futures between their goroutines, which a
// library upgrade may change; with no pipeline there is nothing of the
// sort to get right.
func WithoutPipelining(t hraft.Transport) hraft.Transport {
	base := noPipeline{t}
	pv, hasPreVote := t.(hraft.WithPreVote)
	cl, hasClose := t.(hraft.WithClose)
	switch {
	case hasPreVote && hasClose:
		return noPipelinePreVoteClose{base, pv, cl}
	case hasPreVote:
		return noPipelinePreVote{base, pv}
	case hasClose:
		return noPipelineClose{base, cl}
	}
	return base
}

// noPipeline is a transport that refuses pipelines and passes every other
// call to the transport it embeds.
type noPipeline struct{ hraft.Transport }

// AppendEntriesPipeline refuses: raft falls back to AppendEntries.
func (noPipeline) AppendEntriesPipeline(hraft.ServerID, hraft.ServerAddress) (hraft.AppendPipeline, error) {
	return nil, hraft.ErrPipelineReplicationNotSupported
}

// raft looks for pre-vote and close support with type assertions, so the
// wrapper offers exactly what the wrapped transport offers.
type noPipelinePreVote struct {
	noPipeline
	hraft.WithPreVote
}

type noPipelineClose struct {
	noPipeline
	hraft.WithClose
}

type noPipelinePreVoteClose struct {
	noPipeline
	hraft.WithPreVote
	hraft.WithClose
}

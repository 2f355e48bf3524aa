package raft

import (
	"context"
	"errors"
	"sync"
)

// Batcher is Herald's group commit: concurrent callers Submit items, and one
// loop packs whatever is waiting into a single command and a single
// raft.Apply. Under load many requests share one log entry, one fsync and one
// Badger write batch; when idle, an item goes out alone at once, so there is
// no added latency. Several applies may be in flight at a time (raft's
// BatchApplyCh then shares their log write as well).
type Batcher[T any] struct {
	node     *Node
	build    func(items []T) Command
	split    func(resp any, n int) []Result
	maxItems int
	maxBytes int
	size     func(T) int
	queue    chan *pending[T]
	slots    chan struct{}
	stop     chan struct{}
	closed   chan struct{} // closed when Close has answered every queued item
	once     sync.Once
	done     sync.WaitGroup
}

type pending[T any] struct {
	item T
	res  Result
	err  error
	done chan struct{}
}

// BatcherConfig sizes a batcher.
type BatcherConfig struct {
	MaxItems    int // items per command
	MaxBytes    int // approximate encoded bytes per command
	MaxInFlight int // commands being replicated at once
	QueueLen    int // items waiting before Submit blocks
}

// NewBatcher starts a batcher. build packs items into one command; split
// turns the FSM's response for that command into one Result per item; size
// estimates an item's encoded size.
func NewBatcher[T any](node *Node, cfg BatcherConfig, build func([]T) Command,
	split func(resp any, n int) []Result, size func(T) int) *Batcher[T] {
	b := &Batcher[T]{
		node: node, build: build, split: split, size: size,
		maxItems: cfg.MaxItems, maxBytes: cfg.MaxBytes,
		queue:  make(chan *pending[T], cfg.QueueLen),
		slots:  make(chan struct{}, cfg.MaxInFlight),
		stop:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	b.done.Add(1)
	go b.loop()
	return b
}

// Submit queues item and waits until the command holding it is applied (or
// failed), or ctx ends. When ctx ends first the item may still commit.
func (b *Batcher[T]) Submit(ctx context.Context, item T) (Result, error) {
	// Checked first: with room in the queue, the select below may pick the
	// send even when stop is closed, and nobody would answer the item.
	select {
	case <-b.stop:
		return Result{}, ErrShutdown
	default:
	}
	p := &pending[T]{item: item, done: make(chan struct{})}
	b.node.waiting.Add(1) // before the send: the loop may take it at once
	select {
	case b.queue <- p:
	case <-ctx.Done():
		b.node.waiting.Add(-1)
		return Result{}, ctx.Err()
	case <-b.stop:
		b.node.waiting.Add(-1)
		return Result{}, ErrShutdown
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-b.closed:
		// Close answered everything it found queued; an item still
		// unanswered was queued after that, while Close was running.
		select {
		case <-p.done:
			return p.res, p.err
		default:
			return Result{}, ErrShutdown
		}
	}
}

// Close stops the loop after the commands in flight finish; queued items
// that were not sent fail with ErrShutdown.
func (b *Batcher[T]) Close() {
	b.once.Do(func() {
		close(b.stop)
		b.done.Wait()
		defer close(b.closed)
		for {
			select {
			case p := <-b.queue:
				b.node.waiting.Add(-1)
				p.err = ErrShutdown
				close(p.done)
			default:
				return
			}
		}
	})
}

func (b *Batcher[T]) loop() {
	defer b.done.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		var first *pending[T]
		select {
		case first = <-b.queue:
		case <-b.stop:
			return
		}
		// Wait for a free slot before collecting: while all slots are busy,
		// more items pile up and the next command carries them all.
		select {
		case b.slots <- struct{}{}:
		case <-b.stop:
			b.node.waiting.Add(-1)
			first.err = ErrShutdown
			close(first.done)
			return
		}
		batch := []*pending[T]{first}
		bytes := b.size(first.item)
	collect:
		for len(batch) < b.maxItems && bytes < b.maxBytes {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
				bytes += b.size(p.item)
			default:
				break collect
			}
		}
		b.node.waiting.Add(-int64(len(batch)))
		items := make([]T, len(batch))
		for i, p := range batch {
			items[i] = p.item
		}
		f := b.node.ApplyAsync(b.build(items))
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-b.slots }()
			resp, err := b.node.Wait(f)
			var results []Result
			if err == nil {
				results = b.split(resp, len(batch))
				if len(results) != len(batch) {
					err = errors.New("raft: batch response does not match its items")
				}
			}
			for i, p := range batch {
				if err != nil {
					p.err = err
				} else {
					p.res = results[i]
				}
				close(p.done)
			}
		}()
	}
}

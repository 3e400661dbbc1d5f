// heapdumpgen builds object graphs with known cycles and writes a Go heap dump
// (runtime/debug.WriteHeapDump) with every allocation sampled (MemProfileRate = 1).
//
// Reachable from globals: 3 parent↔child pairs (2-cycles), rings of 3, 5 and 8 nodes, 4 cache
// entry↔value pairs, one self-loop, and an acyclic binary tree of 15 nodes (no cycle). With
// -garbage, GC is switched off first and 2 rings of 4 nodes are dropped before the dump: they are
// still in the heap, unreachable.
package main

import (
	"flag"
	"os"
	"runtime"
	"runtime/debug"
)

type Parent struct {
	Child *Child
	Pad   [40]byte
}

type Child struct {
	Parent *Parent
	Pad    [24]byte
}

type RingNode struct {
	Next *RingNode
	ID   int
}

type Entry struct {
	Key   string
	Value *Value
}

type Value struct {
	Owner *Entry
	Data  [100]byte
}

type Self struct {
	Me  *Self
	Pad [16]byte
}

type Tree struct {
	Left, Right *Tree
	N           int
}

var (
	parents []*Parent
	rings   []*RingNode
	cache   = map[string]*Entry{}
	self    *Self
	tree    *Tree
)

//go:noinline
func makePair() *Parent {
	p := &Parent{}
	p.Child = &Child{Parent: p}
	return p
}

//go:noinline
func makeRing(n int) *RingNode {
	first := &RingNode{ID: 0}
	cur := first
	for i := 1; i < n; i++ {
		cur.Next = &RingNode{ID: i}
		cur = cur.Next
	}
	cur.Next = first
	return first
}

//go:noinline
func makeEntry(k string) *Entry {
	e := &Entry{Key: k}
	e.Value = &Value{Owner: e}
	return e
}

//go:noinline
func makeTree(depth int) *Tree {
	if depth == 0 {
		return nil
	}
	return &Tree{Left: makeTree(depth - 1), Right: makeTree(depth - 1), N: depth}
}

//go:noinline
func makeGarbageRing(n int) {
	_ = makeRing(n)
}

func main() {
	out := flag.String("out", "heap.dump", "output file")
	garbage := flag.Bool("garbage", false, "switch GC off and leave unreachable rings in the heap")
	then := flag.String("then", "", "after the dump, add 3 pairs and 2 rings of 8, and dump again here")
	flag.Parse()
	runtime.MemProfileRate = 1
	if *garbage {
		debug.SetGCPercent(-1)
	}
	for i := 0; i < 3; i++ {
		parents = append(parents, makePair())
	}
	for _, n := range []int{3, 5, 8} {
		rings = append(rings, makeRing(n))
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		cache[k] = makeEntry(k)
	}
	self = &Self{}
	self.Me = self
	tree = makeTree(4)
	if *garbage {
		makeGarbageRing(4)
		makeGarbageRing(4)
	} else {
		runtime.GC()
	}
	f, err := os.Create(*out)
	if err != nil {
		panic(err)
	}
	debug.WriteHeapDump(f.Fd())
	if err := f.Close(); err != nil {
		panic(err)
	}
	if *then != "" {
		for i := 0; i < 3; i++ {
			parents = append(parents, makePair())
		}
		rings = append(rings, makeRing(8), makeRing(8))
		runtime.GC()
		f, err := os.Create(*then)
		if err != nil {
			panic(err)
		}
		debug.WriteHeapDump(f.Fd())
		if err := f.Close(); err != nil {
			panic(err)
		}
	}
	runtime.KeepAlive(parents)
}

// typesgen writes a Go heap dump (runtime/debug.WriteHeapDump, MemProfileRate = 1, after a
// runtime.GC) whose objects are reached through interfaces, closures and a goroutine stack, so
// that typing heap objects from DWARF (`retained --by type --binary`) can be tested.
// It builds with Go 1.19 and later (standard library only).
//
// Heap objects it creates and keeps, by type (sizes on amd64; every main.* struct has its own
// size class):
//
//	type              size (class)  count  reached from
//	main.Square         24  (24)      6    shapes[0..5], a *Square in a Shape (pointer-shaped, not boxed)
//	main.Holder        208 (208)      6    Square.Owner, one each
//	main.Circle        176 (176)      4    shapes[6..9], a Circle value in a Shape: boxed (value receiver)
//	string              16  (16)      4    Circle.Label (new(string); the "x" it holds is static data)
//	main.Blob           72  (80)      6    5 as *Blob in anything[0..4] (Next nil), 1 as Lonely.Ref
//	main.Pair          192 (192)      3    anything[5..7], a Pair value in an any: boxed
//	int                  8  (tiny)    6    Pair.A and Pair.B (new(int), pointer-free: the tiny
//	                                       allocator packs them into shared 16-byte blocks, 3 or
//	                                       4 of them depending on alignment, not 6 objects)
//	main.Lonely        136 (144)      1    single, a *Lonely in an any
//	main.Counter        32  (32)      4    captured by the 4 closures in callbacks
//	[8]int (Hist)       64  (64)      4    Counter.Hist backing arrays
//	closure             16  (16)      4    callbacks[0..3]: struct{ F uintptr; c *main.Counter },
//	                                       one per makeCounter call (func main.makeCounter.func1)
//	main.Stacked        48  (48)      1    only from the stack of the goroutine parked in holdOnStack
//	main.StackInner    224 (224)      1    Stacked.Inner
//	main.Tally         256 (256)      1    only from the closure in tally, which captures t by
//	                                       reference (&t, a *Tally; Go 1.23+ DWARF gives its offset)
//	main.TallyNote     352 (352)      1    Tally.Note
//	main.Tri           240 (240)      1    only from the same frame, a *Tri in a Shape local (s)
//	main.TriLeaf       320 (320)      1    Tri.Leaf
//	main.Big           720 (768)      1    only hidden, an unsafe.Pointer (Go 1.22+: its malloc
//	                                       header names main.Big)
//	main.BigLeaf       288 (288)      1    Big.Leaf
//	main.Link          368 (384)      2    link (a *Link), and shared, an atomic.Pointer[Link]: its
//	                                       word is an unsafe.Pointer, so that one is typed only by
//	                                       inference (same size, pointer words, and its Peer a
//	                                       main.Holder, as Link.Peer says)
//	main.LinkLeaf      400 (416)      2    Link.Own, one each (the shared one's inferred through it)
//	main.Loop          464 (480)      1    loop; its Tick's closure captures it (l, by value): a
//	                                       cycle through a closure's capture
//	closure             16  (16)      1    Loop.Tick: struct{ F uintptr; l *main.Loop }
//	                                       (func main.makeLoop.func1)
//	[10]main.Shape     160 (160)      1    shapes' backing array
//	[8]interface {}    128 (128)      1    anything's backing array
//	[4]func() int       32  (32)      1    callbacks' backing array
//	chan struct{}       96  (96)      1    block: the hchan, allocated untyped by makechan
//	                                       (Go 1.23+: hchan is 104 bytes, class 112)
//
// The closure captures c by value (c is a pointer never reassigned after the capture), so no
// extra heap cell holds c: `go build -gcflags=-m=2` says "makeCounter capturing by value: c
// (addr=false assign=false width=8)" with Go 1.19, 1.23 and 1.27.
//
// Besides these, the dump holds the runtime's own objects and those of flag/os (os.Args, the
// flag set, the dump file).
package main

import (
	"flag"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

type Shape interface{ Area() int }

type Holder struct {
	Name   string
	Weight [24]int
}

type Square struct {
	Side  int
	Owner *Holder
	Pad   [1]int
}

func (s *Square) Area() int { return s.Side * s.Side }

type Circle struct {
	R     int
	Label *string
	Pad   [20]int
}

func (c Circle) Area() int { return 3 * c.R * c.R }

type Blob struct {
	Data [64]byte
	Next *Blob
}

type Pair struct {
	A, B *int
	Pad  [22]int
}

type Lonely struct {
	Pad [16]int
	Ref *Blob
}

type Counter struct {
	N    int
	Hist []int
}

// Tally is captured by reference (its closure assigns it): the closure holds a pointer to it.
type Tally struct {
	N    int
	Note *TallyNote
	Pad  [30]int
}

type TallyNote struct {
	V [44]int
}

type Stacked struct {
	Pad   [5]int
	Inner *StackInner
}

type StackInner struct {
	V [28]int
}

// Tri is reached only through a Shape local of holdOnStack: the stack slot's type word (an itab)
// names *Tri.
type Tri struct {
	Base int
	Leaf *TriLeaf
	Pad  [28]int
}

func (t *Tri) Area() int { return t.Base }

type TriLeaf struct {
	V [40]int
}

// Big holds pointers and is over 512 bytes (720, class 768): from Go 1.22 its heap object starts
// with a malloc header naming its type. Only an unsafe.Pointer reaches it.
type Big struct {
	Leaf *BigLeaf
	Ptrs [79]*int
	Pad  [10]int
}

type BigLeaf struct {
	V [36]int
}

// Link is held by a plain pointer (link) and by an atomic.Pointer (shared), whose word is an
// unsafe.Pointer: the shared one's type can only be inferred.
type Link struct {
	Peer *Holder
	Own  *LinkLeaf
	Pad  [44]int
}

type LinkLeaf struct {
	V [50]int
}

// Loop's Tick is a closure that captured the Loop: Loop → closure → Loop, a cycle whose second
// step only the capture names.
type Loop struct {
	Tick func() int
	Pad  [57]int
}

var (
	shapes    []Shape
	anything  []any
	single    any
	callbacks []func() int
	tally     func() int
	hidden    unsafe.Pointer
	link      *Link
	shared    atomic.Pointer[Link]
	loop      *Loop

	// escape is called through a variable, so escape analysis cannot see that it keeps nothing:
	// what is passed to it goes to the heap.
	escape      = func(*Stacked) {}
	escapeShape = func(Shape) {}
	block       = make(chan struct{}) // nobody sends on it
	started     sync.WaitGroup
)

//go:noinline
func makeCounter() func() int {
	c := &Counter{Hist: make([]int, 8)}
	return func() int {
		c.N++
		return c.N
	}
}

//go:noinline
func makeLoop() *Loop {
	l := &Loop{}
	l.Tick = func() int { l.Pad[0]++; return l.Pad[0] }
	return l
}

//go:noinline
func makeTally() func() int {
	var t Tally
	return func() int {
		t = Tally{N: t.N + 1, Note: &TallyNote{}}
		return t.N
	}
}

// holdOnStack keeps the only pointer to a Stacked, and the only Shape holding a *Tri, on its
// goroutine's stack.
//
//go:noinline
func holdOnStack() {
	p := &Stacked{Inner: &StackInner{}}
	var s Shape = &Tri{Base: 3, Leaf: &TriLeaf{}}
	escape(p)
	escapeShape(s)
	// Its address taken, s is kept whole in the frame (type word, then data word) under one
	// DWARF location; a Shape the compiler keeps in registers has a location in pieces.
	areaOf(&s)
	started.Done()
	<-block
	runtime.KeepAlive(p)
	runtime.KeepAlive(s)
}

// areaOf does not keep its argument: what it points to can stay on the caller's stack.
//
//go:noinline
func areaOf(s *Shape) int { return (*s).Area() }

// area calls Area through the interface, so the linker keeps the methods (and the itabs' entries).
//
//go:noinline
func area() int {
	t := 0
	for _, s := range shapes {
		t += s.Area()
	}
	return t
}

//go:noinline
func build() {
	shapes = make([]Shape, 10)
	for i := 0; i < 6; i++ {
		shapes[i] = &Square{Side: i + 1, Owner: &Holder{Name: "holder"}}
	}
	for i := 0; i < 4; i++ {
		s := new(string)
		*s = "x"
		shapes[6+i] = Circle{R: i + 1, Label: s}
	}

	anything = make([]any, 8)
	for i := 0; i < 5; i++ {
		anything[i] = &Blob{}
	}
	for i := 0; i < 3; i++ {
		anything[5+i] = Pair{A: new(int), B: new(int)}
	}

	single = &Lonely{Pad: [16]int{}, Ref: &Blob{}}

	// (A named local, so that Go 1.27's linker, which describes only the types some variable
	// or function of the DWARF uses, describes main.Big.)
	big := &Big{Leaf: &BigLeaf{}}
	hidden = unsafe.Pointer(big)

	link = &Link{Peer: shapes[0].(*Square).Owner, Own: &LinkLeaf{}}
	shared.Store(&Link{Peer: shapes[1].(*Square).Owner, Own: &LinkLeaf{}})

	callbacks = make([]func() int, 4)
	for i := range callbacks {
		callbacks[i] = makeCounter()
	}
	tally = makeTally()
	tally()
	loop = makeLoop()
}

func main() {
	out := flag.String("out", "heap.dump", "output file")
	flag.Parse()
	runtime.MemProfileRate = 1

	build()
	if area() != 91+90 { // squares 1+4+...+36, circles 3*(1+4+9+16)
		panic("area")
	}
	started.Add(1)
	go holdOnStack()
	started.Wait()
	// Let holdOnStack park on <-block.
	time.Sleep(50 * time.Millisecond)

	runtime.GC()
	f, err := os.Create(*out)
	if err != nil {
		panic(err)
	}
	debug.WriteHeapDump(f.Fd())
	if err := f.Close(); err != nil {
		panic(err)
	}
	runtime.KeepAlive(shapes)
	runtime.KeepAlive(anything)
	runtime.KeepAlive(single)
	runtime.KeepAlive(callbacks)
}

// A small Rust program for the symbolizer's reference tests, linked by rustc's default linker
// (lld on x86_64 Linux): its text segment sits 0x1000 above its file offset.
#[inline(never)]
fn register(v: &mut Vec<Vec<u8>>, n: usize) {
    v.push(vec![1u8; n]);
}

#[inline(never)]
fn handle(v: &mut Vec<Vec<u8>>) {
    for i in 0..100 {
        register(v, 1000 + i);
    }
}

fn main() {
    let mut v = Vec::new();
    handle(&mut v);
    println!("{}", v.len());
}

//! The wrapper against the library: conversions, queries, errors as
//! Result, and a page-table builder that re-joins leaves.
use libgmem::{Attr, Error, Guest, PageTable, Pool, View, BLOCK_FRAMES};

const EINVAL: i32 = 22;
const ENOENT: i32 = 2;

fn guest(pool: &mut Pool) -> Guest<'_> {
    pool.add_frames(BLOCK_FRAMES, 4 * BLOCK_FRAMES).unwrap();
    let mut g = Guest::new(pool).unwrap();
    g.region_add(0, 2 * BLOCK_FRAMES, Attr::Private).unwrap();
    g
}

#[test]
fn converts_and_queries() {
    let mut pool = Pool::new().unwrap();
    let g = guest(&mut pool);
    assert!(libgmem::version() >= 0x010500);
    g.convert(0x100, 16, Attr::Shared).unwrap();
    assert_eq!(g.range_attr(0x100, 16).unwrap(), Attr::Shared);
    assert_eq!(g.range_attr(0, 512).unwrap(), Attr::Mixed);
    let r = g.run(0x100, 1000).unwrap();
    assert_eq!((r.gfn, r.npages, r.attr), (0x100, 16, Attr::Shared));
    let s = g.stats().unwrap();
    assert_eq!((s.shared_frames, s.conversions, s.converted_frames), (16, 1, 16));
}

#[test]
fn errors_are_errnos_and_change_nothing() {
    let mut pool = Pool::new().unwrap();
    let g = guest(&mut pool);
    assert_eq!(g.convert(0, 1, Attr::Mixed), Err(Error(EINVAL)));
    assert_eq!(g.convert(3 * BLOCK_FRAMES, 1, Attr::Shared), Err(Error(ENOENT)));
    assert_eq!(g.range_attr(0, 2 * BLOCK_FRAMES).unwrap(), Attr::Private);
    assert_eq!(Error(ENOENT).to_string(), "No such file or directory (os error 2)");
}

#[test]
fn builder_keeps_the_smallest_table() {
    let mut pool = Pool::new().unwrap();
    let g = guest(&mut pool);
    let mut pt = PageTable::new_ept(&g, View::All).unwrap();
    assert_eq!(pt.stats().unwrap().leaves, 2); // two 1 GiB leaves
    g.convert(7, 1, Attr::Shared).unwrap();
    pt.sync().unwrap();
    // The ALL view maps both attributes: still two 1 GiB leaves.
    assert_eq!(pt.stats().unwrap().leaves, 2);
    let mut shared = PageTable::new_ept(&g, View::Shared).unwrap();
    assert_eq!(shared.stats().unwrap().leaves, 1); // the one frame
    g.convert(0, BLOCK_FRAMES, Attr::Shared).unwrap();
    shared.sync().unwrap();
    assert_eq!(shared.stats().unwrap().leaves, 1); // joined into 1 GiB
}

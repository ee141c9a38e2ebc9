//! A safe wrapper of libgmem, as a Rust VMM (cloud-hypervisor and the
//! like) would hold it: each handle is freed when dropped, after the
//! handles that borrow it; every call returns `Result`, its error the
//! errno the library returned.

use libgmem_sys as sys;
use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::ptr;

/// An errno a libgmem call returned (positive: `Error(libc::EINVAL)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(pub i32);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn check(ret: i32) -> Result<()> {
    if ret < 0 {
        Err(Error(-ret))
    } else {
        Ok(())
    }
}

/// An options or output struct of the library: zeroed, `sz` set.
fn opts<T>() -> T {
    // SAFETY: the library's option structs are plain data, valid zeroed.
    let mut t: T = unsafe { mem::zeroed() };
    // SAFETY: every such struct begins with `size_t sz`.
    unsafe { *(&mut t as *mut T as *mut usize) = mem::size_of::<T>() };
    t
}

/// Frames in a 1 GiB block.
pub const BLOCK_FRAMES: u64 = sys::GMEM_BLOCK_FRAMES as u64;
/// The library's version, as `GMEM_VERSION`.
pub fn version() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::gmem_version() }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    Private,
    Shared,
    /// Only from queries over a range.
    Mixed,
}

impl Attr {
    fn from_raw(a: u32) -> Attr {
        match a {
            sys::gmem_attr_GMEM_ATTR_PRIVATE => Attr::Private,
            sys::gmem_attr_GMEM_ATTR_SHARED => Attr::Shared,
            _ => Attr::Mixed,
        }
    }

    fn raw(self) -> u32 {
        match self {
            Attr::Private => sys::gmem_attr_GMEM_ATTR_PRIVATE,
            Attr::Shared => sys::gmem_attr_GMEM_ATTR_SHARED,
            Attr::Mixed => sys::gmem_attr_GMEM_ATTR_MIXED,
        }
    }
}

/// Host frames, in 1 GiB blocks.
pub struct Pool(*mut sys::gmem_pool);

// SAFETY: the library's pool may be used from any thread.
unsafe impl Send for Pool {}
unsafe impl Sync for Pool {}

impl Pool {
    pub fn new() -> Result<Pool> {
        let mut p = ptr::null_mut();
        // SAFETY: NULL options; p receives the pool.
        check(unsafe { sys::gmem_pool_create(ptr::null(), &mut p) })?;
        Ok(Pool(p))
    }

    /// Gives the pool the frames [pfn, pfn + npages) on NUMA node 0.
    pub fn add_frames(&mut self, pfn: u64, npages: u64) -> Result<()> {
        // SAFETY: a live pool; no info asked for.
        check(unsafe { sys::gmem_pool_add_frames(self.0, pfn, npages, 0, ptr::null_mut()) })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: the guests that borrow it are gone (lifetimes).
        unsafe { sys::gmem_pool_destroy(self.0) };
    }
}

/// A guest's memory: regions of frames, shared or private.
pub struct Guest<'p> {
    g: *mut sys::gmem_guest,
    _pool: PhantomData<&'p Pool>,
}

// SAFETY: conversions and queries may run from any thread (gmem/guest.h);
// the calls marked exclusive take &mut self.
unsafe impl Send for Guest<'_> {}
unsafe impl Sync for Guest<'_> {}

/// A maximal run of frames with one attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub gfn: u64,
    pub npages: u64,
    pub attr: Attr,
}

/// What `Guest::stats` tells.
#[derive(Clone, Copy, Debug)]
pub struct GuestStats {
    pub nregions: u64,
    pub nblocks: u64,
    pub shared_frames: u64,
    pub conversions: u64,
    pub converted_frames: u64,
    pub refusals: u64,
}

impl<'p> Guest<'p> {
    pub fn new(pool: &'p Pool) -> Result<Guest<'p>> {
        let mut g = ptr::null_mut();
        // SAFETY: a live pool, outliving the guest.
        check(unsafe { sys::gmem_guest_create(pool.0, ptr::null(), &mut g) })?;
        Ok(Guest { g, _pool: PhantomData })
    }

    /// Adds the region [gfn, gfn + npages), all of it attr.
    pub fn region_add(&mut self, gfn: u64, npages: u64, attr: Attr) -> Result<()> {
        let mut o: sys::gmem_region_opts = opts();
        o.attr = attr.raw();
        // SAFETY: a live guest; options valid for the call.
        check(unsafe { sys::gmem_region_add(self.g, gfn, npages, &o) })
    }

    /// Converts [gfn, gfn + npages): all of it, or on error none.
    pub fn convert(&self, gfn: u64, npages: u64, attr: Attr) -> Result<()> {
        // SAFETY: a live guest; conversions may run concurrently.
        check(unsafe { sys::gmem_convert(self.g, gfn, npages, attr.raw(), ptr::null_mut()) })
    }

    /// Whether [gfn, gfn + npages) is all private, all shared, or mixed.
    pub fn range_attr(&self, gfn: u64, npages: u64) -> Result<Attr> {
        let mut a = 0;
        // SAFETY: a live guest; a is written.
        check(unsafe { sys::gmem_range_attr(self.g, gfn, npages, &mut a) })?;
        Ok(Attr::from_raw(a))
    }

    /// The run of one attribute from gfn, at most npages long.
    pub fn run(&self, gfn: u64, npages: u64) -> Result<Run> {
        // SAFETY: plain data.
        let mut r: sys::gmem_run = unsafe { mem::zeroed() };
        // SAFETY: a live guest; r is written.
        check(unsafe { sys::gmem_run_get(self.g, gfn, npages, &mut r) })?;
        Ok(Run { gfn: r.gfn, npages: r.npages, attr: Attr::from_raw(r.attr) })
    }

    pub fn stats(&self) -> Result<GuestStats> {
        let mut s: sys::gmem_guest_stats = opts();
        // SAFETY: a live guest; s is written.
        check(unsafe { sys::gmem_guest_stats(self.g, &mut s) })?;
        Ok(GuestStats {
            nregions: s.nregions,
            nblocks: s.nblocks,
            shared_frames: s.shared_frames,
            conversions: s.conversions,
            converted_frames: s.converted_frames,
            refusals: s.refusals,
        })
    }
}

impl Drop for Guest<'_> {
    fn drop(&mut self) {
        // SAFETY: the builders that borrow it are gone (lifetimes).
        unsafe { sys::gmem_guest_destroy(self.g) };
    }
}

/// Which frames a page table maps.
#[derive(Clone, Copy, Debug)]
pub enum View {
    All,
    Private,
    Shared,
}

/// A page table of a view of a guest, kept the smallest the view allows.
pub struct PageTable<'g> {
    pt: *mut sys::gmem_pt,
    _guest: PhantomData<&'g ()>,
}

/// What `PageTable::stats` tells.
#[derive(Clone, Copy, Debug)]
pub struct TableStats {
    pub leaves: u64,
    pub tables: u64,
    pub table_bytes: u64,
    pub syncs: u64,
}

impl<'g> PageTable<'g> {
    /// An x86-64 EPT of the view, built now.
    pub fn new_ept(guest: &'g Guest<'_>, view: View) -> Result<PageTable<'g>> {
        let mut geom: sys::gmem_pt_geometry = opts();
        let mut o: sys::gmem_pt_opts = opts();
        let mut pt = ptr::null_mut();
        let v = match view {
            View::All => sys::gmem_pt_view_GMEM_PT_VIEW_ALL,
            View::Private => sys::gmem_pt_view_GMEM_PT_VIEW_PRIVATE,
            View::Shared => sys::gmem_pt_view_GMEM_PT_VIEW_SHARED,
        };
        o.format = sys::gmem_pt_format_GMEM_PT_FORMAT_EPT;
        // SAFETY: geom is written; a live guest outliving the table.
        unsafe {
            check(sys::gmem_pt_geometry(sys::gmem_pt_arch_GMEM_PT_X86_4LEVEL, &mut geom))?;
            check(sys::gmem_pt_create(guest.g, v, &geom, &mut o, &mut pt))?;
        }
        Ok(PageTable { pt, _guest: PhantomData })
    }

    /// Applies the conversions since the last sync.
    pub fn sync(&mut self) -> Result<()> {
        // SAFETY: a live table; &mut: the call is exclusive on it.
        check(unsafe { sys::gmem_pt_sync(self.pt) })
    }

    pub fn stats(&self) -> Result<TableStats> {
        let mut s: sys::gmem_pt_stats = opts();
        // SAFETY: a live table; s is written.
        check(unsafe { sys::gmem_pt_stats(self.pt, &mut s) })?;
        Ok(TableStats {
            leaves: s.nleaves,
            tables: s.ntables,
            table_bytes: s.table_bytes,
            syncs: s.syncs,
        })
    }
}

impl Drop for PageTable<'_> {
    fn drop(&mut self) {
        // SAFETY: nothing borrows the table.
        unsafe { sys::gmem_pt_destroy(self.pt) };
    }
}

//! A FUSE file system for power-cut tests: a disk with a volatile write cache.
//!
//! Reads see every change at once, but a change survives a power cut only once it was made
//! durable the way POSIX promises, and no other way:
//! - `fsync`/`fdatasync` of a file makes that file's content, size and mode durable;
//! - `fsync` of a directory (`fsyncdir`) makes that directory's entries durable (the names
//!   created, renamed or unlinked in it); a file whose name was never made durable by its
//!   directory's fsync is gone after a cut, whatever its own fsyncs.
//!
//! [`PowerCutDisk::cut_power`] drops everything volatile at once, and from then on every
//! operation fails with `EIO` (as on a machine that lost power, no write gets through).
//! [`PowerCutDisk::unmount`] writes what was durable into the backing directory ("the
//! platters"); [`PowerCutDisk::mount`] serves a backing directory again. The durable state is
//! kept in memory while mounted and written to the backing directory at unmount, which gives
//! the same platters as writing it through at every sync.
//!
//! The kernel caches nothing that could hide an operation: entries and attributes are given
//! a time-to-live of zero and files are opened with `FOPEN_DIRECT_IO`, so every read and
//! write reaches this daemon. `sync_file_range` reaches it only as the writes themselves:
//! it makes nothing durable here, as on a disk with a write cache.

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ROOT: u64 = 1;
/// The kernel keeps no entry or attribute: every lookup and stat reaches the daemon.
const TTL: Duration = Duration::ZERO;
const FILE_TYPE_MASK: u32 = 0o170_000;
const REGULAR_FILE: u32 = 0o100_000;
const ENOTEMPTY: i32 = 39;
const EINVAL: i32 = 22;
const EISDIR: i32 = 21;
const ENOTDIR: i32 = 20;
const EOPNOTSUPP: i32 = 95;

#[derive(Debug, Clone)]
enum Body {
    File(Vec<u8>),
    Dir(BTreeMap<OsString, u64>),
}

#[derive(Debug, Clone)]
struct Node {
    body: Body,
    mode: u16,
}

impl Node {
    fn empty_like(&self) -> Self {
        Self {
            body: match self.body {
                Body::File(_) => Body::File(Vec::new()),
                Body::Dir(_) => Body::Dir(BTreeMap::new()),
            },
            mode: self.mode,
        }
    }
}

/// Byte ranges written since a file's last fsync; `whole` after a truncation.
#[derive(Debug, Default)]
struct Dirty {
    ranges: Vec<(usize, usize)>,
    whole: bool,
}

/// Past this many ranges an fsync copies the whole file.
const MAX_DIRTY_RANGES: usize = 4096;

#[derive(Debug)]
struct State {
    /// The power is off: every operation fails.
    cut: bool,
    /// What reads see: the durable state plus the volatile cache.
    live: HashMap<u64, Node>,
    /// What survives a cut: each inode as of its last fsync (a file) or fsyncdir (a
    /// directory); an inode whose name was made durable but not its content is empty.
    durable: HashMap<u64, Node>,
    /// What changed in each file since its last fsync, so an fsync copies only that.
    dirty: HashMap<u64, Dirty>,
    next_ino: u64,
    uid: u32,
    gid: u32,
    /// Durability requests served, for the tests' figures.
    syncs: u64,
}

/// Counts of what the file system was asked, for the tests' figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCounts {
    /// `fsync`, `fdatasync` and `fsyncdir` calls served before the cut.
    pub syncs: u64,
}

/// A mounted disk with a volatile write cache.
#[derive(Debug)]
pub struct PowerCutDisk {
    backing: PathBuf,
    mountpoint: PathBuf,
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
}

/// Why FUSE cannot be used here, if it cannot (the tests then skip with this message).
pub fn unavailable() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse is missing (no FUSE in this kernel or container)".into());
    }
    // Root mounts through /dev/fuse itself; anyone else needs the setuid fusermount3.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let fusermount = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("fusermount3").exists())
    });
    if !root && !fusermount {
        return Some(
            "not root and no fusermount3 (Debian's fuse3; scripts/test.sh installs it)".into(),
        );
    }
    None
}

impl PowerCutDisk {
    /// Mounts `backing` (the platters) at `mountpoint`; both directories must exist.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Self> {
        let owner = std::fs::metadata(backing)?;
        let mut state = State {
            cut: false,
            live: HashMap::new(),
            durable: HashMap::new(),
            dirty: HashMap::new(),
            next_ino: ROOT + 1,
            uid: owner.uid(),
            gid: owner.gid(),
            syncs: 0,
        };
        load(&mut state, backing, ROOT)?;
        state.durable = state.live.clone();
        let state = Arc::new(Mutex::new(state));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("powercut".into()),
            MountOption::Subtype("powercut".into()),
        ];
        let session = fuser::spawn_mount(
            VolatileFs {
                state: state.clone(),
            },
            mountpoint,
            &config,
        )?;
        Ok(Self {
            backing: backing.to_owned(),
            mountpoint: mountpoint.to_owned(),
            state,
            session: Some(session),
        })
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Cuts the power: everything not yet durable is lost, and every operation from now
    /// on fails with `EIO`.
    pub fn cut_power(&self) {
        let mut state = self.state.lock();
        state.cut = true;
        state.live.clear();
        state.dirty.clear();
    }

    /// Makes everything durable, as `sync(1)` would (an operator's step, not the service's).
    pub fn sync_all(&self) {
        let mut state = self.state.lock();
        if !state.cut {
            state.durable = state.live.clone();
            state.dirty.clear();
        }
    }

    pub fn counts(&self) -> SyncCounts {
        SyncCounts {
            syncs: self.state.lock().syncs,
        }
    }

    /// Unmounts and writes what was durable onto the platters. Without a cut, an unmount
    /// syncs everything first, as a clean unmount of a real file system does.
    pub fn unmount(mut self) -> io::Result<()> {
        if let Some(session) = self.session.take() {
            match session.umount_and_join() {
                Ok(()) => {}
                // The kernel may end the connection with ECONNABORTED rather than ENODEV
                // when the detached mount goes away (seen now and then after the gateway
                // was killed with requests in flight). The mount is gone either way, and
                // what is durable lives in this process, so only a mount still listed is
                // an error.
                Err(e)
                    if e.raw_os_error() == Some(rustix::io::Errno::CONNABORTED.raw_os_error()) =>
                {
                    if still_mounted(&self.mountpoint)? {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let mut state = self.state.lock();
        if !state.cut {
            state.durable = state.live.clone();
        }
        for entry in std::fs::read_dir(&self.backing)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        state.cut = true;
        write_durable(&state.durable, ROOT, &self.backing)
    }
}

/// Whether `mountpoint` is still a mount point (listed in /proc/self/mounts).
fn still_mounted(mountpoint: &Path) -> io::Result<bool> {
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    let wanted = mountpoint.to_string_lossy();
    Ok(mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .any(|point| point == wanted))
}

impl Drop for PowerCutDisk {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}

/// Reads the platters into memory, giving every file and directory a fresh inode.
fn load(state: &mut State, dir: &Path, ino: u64) -> io::Result<()> {
    let mut entries = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let child = state.next_ino;
        state.next_ino += 1;
        let mode = (meta.permissions().mode() & 0o7777) as u16;
        if meta.is_dir() {
            load(state, &entry.path(), child)?;
            if let Some(node) = state.live.get_mut(&child) {
                node.mode = mode;
            }
        } else {
            let data = std::fs::read(entry.path())?;
            state.live.insert(
                child,
                Node {
                    body: Body::File(data),
                    mode,
                },
            );
        }
        entries.insert(entry.file_name(), child);
    }
    let mode = (std::fs::metadata(dir)?.permissions().mode() & 0o7777) as u16;
    state.live.insert(
        ino,
        Node {
            body: Body::Dir(entries),
            mode,
        },
    );
    Ok(())
}

fn write_durable(durable: &HashMap<u64, Node>, ino: u64, dir: &Path) -> io::Result<()> {
    let Some(Node {
        body: Body::Dir(entries),
        ..
    }) = durable.get(&ino)
    else {
        return Ok(());
    };
    for (name, child) in entries {
        let Some(node) = durable.get(child) else {
            continue;
        };
        let path = dir.join(name);
        match &node.body {
            Body::Dir(_) => {
                std::fs::create_dir(&path)?;
                write_durable(durable, *child, &path)?;
            }
            Body::File(data) => std::fs::write(&path, data)?,
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(node.mode.into()))?;
    }
    Ok(())
}

struct VolatileFs {
    state: Arc<Mutex<State>>,
}

fn errno(code: i32) -> Errno {
    Errno::from_i32(code)
}

impl State {
    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let node = self.live.get(&ino)?;
        let (kind, size, nlink) = match &node.body {
            Body::File(data) => (FileType::RegularFile, data.len() as u64, 1),
            Body::Dir(entries) => (FileType::Directory, entries.len() as u64, 2),
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm: node.mode,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn entries(&self, dir: u64) -> Result<&BTreeMap<OsString, u64>, Errno> {
        match self.live.get(&dir).map(|n| &n.body) {
            Some(Body::Dir(entries)) => Ok(entries),
            Some(Body::File(_)) => Err(errno(ENOTDIR)),
            None => Err(Errno::ENOENT),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match self.live.get_mut(&dir).map(|n| &mut n.body) {
            Some(Body::Dir(entries)) => Ok(entries),
            Some(Body::File(_)) => Err(errno(ENOTDIR)),
            None => Err(Errno::ENOENT),
        }
    }

    fn data_mut(&mut self, ino: u64) -> Result<&mut Vec<u8>, Errno> {
        match self.live.get_mut(&ino).map(|n| &mut n.body) {
            Some(Body::File(data)) => Ok(data),
            Some(Body::Dir(_)) => Err(errno(EISDIR)),
            None => Err(Errno::ENOENT),
        }
    }

    fn add(&mut self, parent: u64, name: &OsStr, body: Body, mode: u32) -> Result<FileAttr, Errno> {
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.live.insert(
            ino,
            Node {
                body,
                mode: (mode & 0o7777) as u16,
            },
        );
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        self.attr(ino).ok_or(Errno::EIO)
    }

    fn is_dir(&self, ino: u64) -> bool {
        matches!(self.live.get(&ino).map(|n| &n.body), Some(Body::Dir(_)))
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
            return Err(errno(EINVAL));
        }
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        if let Some(&target) = self.entries(new_parent)?.get(new_name) {
            if target == ino {
                return Ok(());
            }
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            match (self.is_dir(ino), self.is_dir(target)) {
                (false, true) => return Err(errno(EISDIR)),
                (true, false) => return Err(errno(ENOTDIR)),
                (true, true) if !self.entries(target)?.is_empty() => {
                    return Err(errno(ENOTEMPTY));
                }
                _ => {}
            }
        }
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(new_parent)?
            .insert(new_name.to_owned(), ino);
        Ok(())
    }

    fn mark_dirty(&mut self, ino: u64, range: Option<(usize, usize)>) {
        let dirty = self.dirty.entry(ino).or_default();
        match range {
            Some(range) if !dirty.whole && dirty.ranges.len() < MAX_DIRTY_RANGES => {
                dirty.ranges.push(range);
            }
            _ => {
                dirty.whole = true;
                dirty.ranges.clear();
            }
        }
    }

    fn sync_file(&mut self, ino: u64) -> Result<(), Errno> {
        let live = self.live.get(&ino).ok_or(Errno::ENOENT)?;
        let Body::File(data) = &live.body else {
            return self.sync_dir(ino);
        };
        self.syncs += 1;
        let dirty = self.dirty.remove(&ino).unwrap_or_default();
        match self.durable.get_mut(&ino) {
            Some(Node {
                body: Body::File(durable),
                mode,
            }) if !dirty.whole => {
                durable.resize(data.len(), 0);
                for (start, end) in dirty.ranges {
                    let end = end.min(data.len());
                    if start < end {
                        durable[start..end].copy_from_slice(&data[start..end]);
                    }
                }
                *mode = live.mode;
            }
            _ => {
                let node = live.clone();
                self.durable.insert(ino, node);
            }
        }
        Ok(())
    }

    fn sync_dir(&mut self, ino: u64) -> Result<(), Errno> {
        let node = self.live.get(&ino).ok_or(Errno::ENOENT)?.clone();
        let Body::Dir(entries) = &node.body else {
            return self.sync_file(ino);
        };
        self.syncs += 1;
        // A name made durable before its inode's content: the inode is there, empty.
        for child in entries.values() {
            if !self.durable.contains_key(child)
                && let Some(live) = self.live.get(child)
            {
                let empty = live.empty_like();
                self.durable.insert(*child, empty);
            }
        }
        let mode = node.mode;
        match self.durable.get_mut(&ino) {
            Some(durable) => {
                // The directory's own entries become durable; its mode goes with them.
                durable.body = node.body;
                durable.mode = mode;
            }
            None => {
                self.durable.insert(ino, node);
            }
        }
        Ok(())
    }
}

impl VolatileFs {
    /// Runs `op` on the state unless the power is off.
    fn with<T>(&self, op: impl FnOnce(&mut State) -> Result<T, Errno>) -> Result<T, Errno> {
        let mut state = self.state.lock();
        if state.cut {
            return Err(Errno::EIO);
        }
        op(&mut state)
    }
}

fn reply_entry(result: Result<FileAttr, Errno>, reply: ReplyEntry) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(result: Result<(), Errno>, reply: ReplyEmpty) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for VolatileFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(
            self.with(|s| {
                let ino = *s.entries(parent.0)?.get(name).ok_or(Errno::ENOENT)?;
                s.attr(ino).ok_or(Errno::ENOENT)
            }),
            reply,
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.with(|s| s.attr(ino.0).ok_or(Errno::ENOENT)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.with(|s| {
            if let Some(size) = size {
                let len = usize::try_from(size).map_err(|_| errno(EINVAL))?;
                s.data_mut(ino.0)?.resize(len, 0);
                s.mark_dirty(ino.0, None);
            }
            if let Some(mode) = mode {
                let node = s.live.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
                node.mode = (mode & 0o7777) as u16;
            }
            s.attr(ino.0).ok_or(Errno::ENOENT)
        });
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Regular files only: no sockets, pipes or devices on this disk.
        if mode & FILE_TYPE_MASK != REGULAR_FILE {
            reply.error(Errno::EPERM);
            return;
        }
        reply_entry(
            self.with(|s| s.add(parent.0, name, Body::File(Vec::new()), mode & !umask)),
            reply,
        );
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(
            self.with(|s| s.add(parent.0, name, Body::Dir(BTreeMap::new()), mode & !umask)),
            reply,
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(
            self.with(|s| {
                let ino = *s.entries(parent.0)?.get(name).ok_or(Errno::ENOENT)?;
                if s.is_dir(ino) {
                    return Err(errno(EISDIR));
                }
                s.entries_mut(parent.0)?.remove(name);
                Ok(())
            }),
            reply,
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(
            self.with(|s| {
                let ino = *s.entries(parent.0)?.get(name).ok_or(Errno::ENOENT)?;
                if !s.entries(ino)?.is_empty() {
                    return Err(errno(ENOTEMPTY));
                }
                s.entries_mut(parent.0)?.remove(name);
                Ok(())
            }),
            reply,
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            self.with(|s| s.rename(parent.0, name, newparent.0, newname, flags)),
            reply,
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.with(|s| s.attr(ino.0).ok_or(Errno::ENOENT)) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = self.with(|s| {
            let data = s.data_mut(ino.0)?;
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let end = start.saturating_add(size as usize).min(data.len());
            Ok(data[start..end].to_vec())
        });
        match result {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = self.with(|s| {
            let file = s.data_mut(ino.0)?;
            let start = usize::try_from(offset).map_err(|_| errno(EINVAL))?;
            let end = start.checked_add(data.len()).ok_or(errno(EINVAL))?;
            if file.len() < end {
                file.resize(end, 0);
            }
            file[start..end].copy_from_slice(data);
            s.mark_dirty(ino.0, Some((start, end)));
            u32::try_from(data.len()).map_err(|_| errno(EINVAL))
        });
        match result {
            Ok(written) => reply.written(written),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() makes nothing durable.
        reply_empty(self.with(|_| Ok(())), reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.with(|s| s.sync_file(ino.0)), reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listing = self.with(|s| {
            let mut listing = vec![
                (ino.0, FileType::Directory, OsString::from(".")),
                (ino.0, FileType::Directory, OsString::from("..")),
            ];
            for (name, child) in s.entries(ino.0)? {
                let kind = if s.is_dir(*child) {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                };
                listing.push((*child, kind, name.clone()));
            }
            Ok(listing)
        });
        match listing {
            Ok(listing) => {
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                for (index, (child, kind, name)) in listing.into_iter().enumerate().skip(skip) {
                    if reply.add(INodeNo(child), index as u64 + 1, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.with(|s| s.sync_dir(ino.0)), reply);
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply_empty(
            self.with(|s| s.attr(ino.0).map(|_| ()).ok_or(Errno::ENOENT)),
            reply,
        );
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.with(|s| s.add(parent.0, name, Body::File(Vec::new()), mode & !umask)) {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(errno(EOPNOTSUPP));
    }
}

//! Geometry of a part (shard) inside its full variable, and the block-parallel
//! driver that fills a part from a function of global element positions.

use crate::error::{Error, Result};
use crate::shape::Shape;
use smallvec::SmallVec;

/// Elements per work block. Blocks are aligned to global element indices that are
/// multiples of `BLOCK`, so their boundaries depend only on the variable, never
/// on the number of threads (and every kernel group, of 2 or 4 elements, lies
/// inside one block).
pub(crate) const BLOCK: usize = 1 << 15;

/// Outputs smaller than this are filled on the calling thread.
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// A part of a row-major variable, as contiguous runs of global elements.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// Length of each contiguous run.
    run_len: usize,
    /// Shape of the part's leading axes that enumerate runs.
    outer: SmallVec<[usize; 4]>,
    /// Global element index of the part's first element along each leading axis
    /// step: the full variable's strides of those axes.
    outer_strides: SmallVec<[u64; 4]>,
    /// Global index of the part's first element.
    origin: u64,
    /// Number of elements of the part (of the range of it, for [`Part::range`]).
    len: usize,
    /// Index (in the part's row-major order) of the first element filled: 0 for a
    /// whole part, the start of the range for [`Part::range`].
    first: usize,
}

impl Part {
    /// The part at `offset` of shape `shape` in `full`.
    pub(crate) fn new(name: &str, full: &Shape, offset: &[usize], shape: &Shape) -> Result<Part> {
        let err = |message: String| Error::Initializer {
            name: name.to_string(),
            message,
        };
        let rank = full.rank();
        if shape.rank() != rank || offset.len() != rank {
            return Err(err(format!(
                "part of shape {shape} at offset {offset:?} does not have the rank of the full shape {full}"
            )));
        }
        for i in 0..rank {
            let end = offset[i].checked_add(shape.dims()[i]);
            if end.is_none_or(|e| e > full.dims()[i]) {
                return Err(err(format!(
                    "part of shape {shape} at offset {offset:?} does not fit in the full shape {full}"
                )));
            }
        }
        let fd = full.dims();
        let sd = shape.dims();
        let mut strides: SmallVec<[u64; 4]> = SmallVec::from_elem(1, rank);
        for i in (0..rank.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * fd[i + 1] as u64;
        }
        // Trailing axes that the part covers entirely merge into the run.
        let mut a = rank;
        while a > 0 && sd[a - 1] == fd[a - 1] && offset[a - 1] == 0 {
            a -= 1;
        }
        // Axis `a - 1` (if any) is the first partially covered one: it joins the run.
        let split = a.saturating_sub(1);
        let run_len: usize = sd[split..].iter().product();
        let origin = offset
            .iter()
            .zip(&strides)
            .map(|(&o, &s)| o as u64 * s)
            .sum();
        Ok(Part {
            run_len,
            outer: SmallVec::from_slice(&sd[..split]),
            outer_strides: SmallVec::from_slice(&strides[..split]),
            origin,
            len: shape.num_elements(),
            first: 0,
        })
    }

    /// The elements `first .. first + len` of this (whole) part, in its row-major
    /// order: filling them gives exactly those elements of the whole part's fill.
    pub(crate) fn range(&self, name: &str, first: usize, len: usize) -> Result<Part> {
        let fits = self.first == 0 && first.checked_add(len).is_some_and(|e| e <= self.len);
        if !fits {
            return Err(Error::Initializer {
                name: name.to_string(),
                message: format!(
                    "elements {first}..+{len} are not inside a part of {} elements",
                    self.len
                ),
            });
        }
        Ok(Part {
            len,
            first,
            ..self.clone()
        })
    }

    /// Number of elements.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Global index of the first element of run `r`.
    fn run_start(&self, mut r: usize) -> u64 {
        let mut g = self.origin;
        for i in (0..self.outer.len()).rev() {
            let d = self.outer[i];
            g += (r % d) as u64 * self.outer_strides[i];
            r /= d;
        }
        g
    }
}

/// Fills `out` (the part's elements, row-major, from element `part.first` on) by
/// calling `f(global_start, run)` on contiguous pieces. `f` must be a pure function
/// of the global positions, so how the elements are cut into pieces (threads, blocks,
/// ranges) never changes the values.
pub(crate) fn fill_part<T, F>(out: &mut [T], part: &Part, f: &F)
where
    T: Send,
    F: Fn(u64, &mut [T]) + Sync,
{
    debug_assert_eq!(out.len(), part.len);
    if out.is_empty() || part.run_len == 0 {
        return;
    }
    let mut out = out;
    let mut run = part.first / part.run_len;
    let into = part.first % part.run_len;
    if into != 0 {
        // A range starting inside a run: its rest first.
        let n = (part.run_len - into).min(out.len());
        let (head, rest) = out.split_at_mut(n);
        fill_piece(part.run_start(run) + into as u64, head, f);
        out = rest;
        run += 1;
    }
    if out.is_empty() {
        return;
    }
    if out.len() < PARALLEL_MIN {
        for (r, piece) in out.chunks_mut(part.run_len).enumerate() {
            f(part.run_start(run + r), piece);
        }
        return;
    }
    fill_part_parallel(out, part, run, f);
}

/// Fills one contiguous piece starting at global element `start`, in blocks on the
/// rayon pool when it is large.
fn fill_piece<T, F>(start: u64, piece: &mut [T], f: &F)
where
    T: Send,
    F: Fn(u64, &mut [T]) + Sync,
{
    if piece.len() < PARALLEL_MIN {
        f(start, piece);
    } else {
        fill_piece_parallel(start, piece, f);
    }
}

#[cfg(not(loom))]
fn fill_piece_parallel<T, F>(start: u64, run: &mut [T], f: &F)
where
    T: Send,
    F: Fn(u64, &mut [T]) + Sync,
{
    use rayon::prelude::*;
    let head = ((BLOCK as u64 - start % BLOCK as u64) % BLOCK as u64) as usize;
    let head = head.min(run.len());
    let (h, rest) = run.split_at_mut(head);
    let body = start + head as u64;
    rayon::join(
        || {
            if !h.is_empty() {
                f(start, h)
            }
        },
        || {
            rest.par_chunks_mut(BLOCK)
                .enumerate()
                .for_each(|(i, c)| f(body + (i * BLOCK) as u64, c));
        },
    );
}

#[cfg(loom)]
fn fill_piece_parallel<T, F>(start: u64, run: &mut [T], f: &F)
where
    T: Send,
    F: Fn(u64, &mut [T]) + Sync,
{
    f(start, run);
}

/// Fills whole runs `first_run ..` (the last one possibly cut short) in parallel.
#[cfg(not(loom))]
fn fill_part_parallel<T, F>(out: &mut [T], part: &Part, first_run: usize, f: &F)
where
    T: Send,
    F: Fn(u64, &mut [T]) + Sync,
{
    use rayon::prelude::*;
    if part.run_len >= BLOCK {
        for (r, run) in out.chunks_mut(part.run_len).enumerate() {
            fill_piece(part.run_start(first_run + r), run, f);
        }
    } else {
        let per = (BLOCK / part.run_len).max(1);
        out.par_chunks_mut(per * part.run_len)
            .enumerate()
            .for_each(|(ci, chunk)| {
                for (j, run) in chunk.chunks_mut(part.run_len).enumerate() {
                    f(part.run_start(first_run + ci * per + j), run);
                }
            });
    }
}

#[cfg(loom)]
fn fill_part_parallel<T, F>(out: &mut [T], part: &Part, first_run: usize, f: &F)
where
    T: Send,
    F: Fn(u64, &mut [T]) + Sync,
{
    for (r, run) in out.chunks_mut(part.run_len).enumerate() {
        f(part.run_start(first_run + r), run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals(full: &[usize], off: &[usize], shape: &[usize]) -> Vec<u64> {
        let part = Part::new(
            "v",
            &Shape::new(full).unwrap(),
            off,
            &Shape::new(shape).unwrap(),
        )
        .unwrap();
        let mut out = vec![0u64; part.len()];
        fill_part(&mut out, &part, &|s, run: &mut [u64]| {
            for (i, o) in run.iter_mut().enumerate() {
                *o = s + i as u64;
            }
        });
        out
    }

    #[test]
    fn rows_and_columns() {
        assert_eq!(
            globals(&[10, 4], &[3, 0], &[2, 4]),
            vec![12, 13, 14, 15, 16, 17, 18, 19]
        );
        assert_eq!(
            globals(&[4, 10], &[0, 7], &[2, 3]),
            vec![7, 8, 9, 17, 18, 19]
        );
        assert_eq!(
            globals(&[2, 3, 4], &[0, 1, 0], &[2, 2, 4]),
            vec![4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]
        );
        assert_eq!(globals(&[], &[], &[]), vec![0]);
        assert_eq!(globals(&[5], &[2], &[3]), vec![2, 3, 4]);
    }

    #[test]
    fn rejects_bad_parts() {
        let full = Shape::new([4, 4]).unwrap();
        assert!(Part::new("v", &full, &[3, 0], &Shape::new([2, 4]).unwrap()).is_err());
        assert!(Part::new("v", &full, &[0], &Shape::new([2, 4]).unwrap()).is_err());
        assert!(Part::new("v", &full, &[0, 0], &Shape::new([4]).unwrap()).is_err());
    }

    #[test]
    fn ranges_fill_the_elements_of_the_whole_part() {
        for (full, off, shape) in [
            (vec![10usize, 4], vec![3usize, 0], vec![2usize, 4]),
            (vec![4, 10], vec![0, 7], vec![2, 3]),
            (vec![2, 3, 4], vec![0, 1, 0], vec![2, 2, 4]),
            (vec![300, 1000], vec![17, 0], vec![200, 1000]),
            (vec![3, 200_000], vec![0, 0], vec![3, 200_000]),
            (vec![700, 300], vec![0, 10], vec![700, 290]),
        ] {
            let whole = globals(&full, &off, &shape);
            let part = Part::new(
                "v",
                &Shape::new(&full[..]).unwrap(),
                &off,
                &Shape::new(&shape[..]).unwrap(),
            )
            .unwrap();
            let n = whole.len();
            for (first, len) in [(0, n), (1, n - 1), (n / 3, n / 2), (n - 1, 1), (5, 0)] {
                let sub = part.range("v", first, len).unwrap();
                let mut out = vec![0u64; len];
                fill_part(&mut out, &sub, &|s, run: &mut [u64]| {
                    for (i, o) in run.iter_mut().enumerate() {
                        *o = s + i as u64;
                    }
                });
                assert_eq!(
                    out,
                    whole[first..first + len],
                    "{full:?} {off:?} {first}+{len}"
                );
            }
            assert!(part.range("v", n, 1).is_err());
            assert!(part.range("v", 1, usize::MAX).is_err());
        }
    }
}

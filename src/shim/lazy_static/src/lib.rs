//! buildmail's std-only stand-in for the `lazy_static` crate, used through
//! `[patch.crates-io]` in buildmail's Cargo.toml.
//!
//! Why: sequoia-openpgp's pure-Rust backend depends on `rsa`, which depends
//! on `num-bigint-dig`, which turns on `lazy_static`'s `spin_no_std`
//! feature. That feature is not additive (RustCrypto/RSA#358): it makes
//! every `lazy_static!` in the build require `T: Send + Sync`, and
//! buildlog-consultant's statics hold values that are `Sync` but not `Send`,
//! so it stops compiling. buildmail is a std program; this crate implements
//! the `lazy_static!` interface (the macro, [`LazyStatic`], [`initialize`])
//! on `std::sync::Once`, requiring only `T: Sync` like the std flavour of
//! the original, and ignores `spin_no_std`.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::cell::UnsafeCell;
use std::sync::Once;

#[doc(hidden)]
pub use core::ops::Deref as __Deref;

/// Storage of one lazily initialised static.
#[doc(hidden)]
pub struct Lazy<T> {
    once: Once,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written exactly once, inside `Once::call_once`, which
// synchronises with every later `call_once`; after that only shared
// references are handed out, so sharing needs nothing beyond `T: Sync`.
unsafe impl<T: Sync> Sync for Lazy<T> {}

impl<T> Lazy<T> {
    /// An uninitialised static.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const INIT: Self = Lazy {
        once: Once::new(),
        value: UnsafeCell::new(None),
    };

    /// The value, initialised by `init` on first use.
    pub fn get<F: FnOnce() -> T>(&'static self, init: F) -> &'static T {
        self.once.call_once(|| {
            let v = init();
            // SAFETY: inside call_once no other reference to the cell exists.
            unsafe { *self.value.get() = Some(v) };
        });
        // SAFETY: call_once has completed (it panics rather than return if
        // the initialiser panicked), so the cell holds Some and is never
        // written again.
        match unsafe { &*self.value.get() } {
            Some(v) => v,
            None => unreachable!("lazy static read before initialisation"),
        }
    }
}

/// Implemented by every static declared with [`lazy_static!`].
pub trait LazyStatic {
    /// Forces initialisation.
    #[doc(hidden)]
    fn initialize(lazy: &Self);
}

/// Initialises a lazy static now rather than on first use.
pub fn initialize<T: LazyStatic>(lazy: &T) {
    LazyStatic::initialize(lazy);
}

/// Declares lazily initialised statics:
/// `lazy_static! { [pub] static ref NAME: TYPE = EXPR; ... }`.
#[macro_export]
macro_rules! lazy_static {
    ($(#[$attr:meta])* static ref $name:ident : $ty:ty = $init:expr; $($rest:tt)*) => {
        $crate::__lazy_static_item!($(#[$attr])* () $name, $ty, $init);
        $crate::lazy_static!($($rest)*);
    };
    ($(#[$attr:meta])* pub static ref $name:ident : $ty:ty = $init:expr; $($rest:tt)*) => {
        $crate::__lazy_static_item!($(#[$attr])* (pub) $name, $ty, $init);
        $crate::lazy_static!($($rest)*);
    };
    ($(#[$attr:meta])* pub ($($vis:tt)+) static ref $name:ident : $ty:ty = $init:expr; $($rest:tt)*) => {
        $crate::__lazy_static_item!($(#[$attr])* (pub ($($vis)+)) $name, $ty, $init);
        $crate::lazy_static!($($rest)*);
    };
    () => {};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __lazy_static_item {
    ($(#[$attr:meta])* ($($vis:tt)*) $name:ident, $ty:ty, $init:expr) => {
        #[allow(missing_copy_implementations, non_camel_case_types, dead_code)]
        $(#[$attr])*
        $($vis)* struct $name {
            __private: (),
        }
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        $($vis)* static $name: $name = $name { __private: () };
        impl $crate::__Deref for $name {
            type Target = $ty;
            fn deref(&self) -> &$ty {
                fn __init() -> $ty {
                    $init
                }
                static LAZY: $crate::Lazy<$ty> = $crate::Lazy::INIT;
                LAZY.get(__init)
            }
        }
        impl $crate::LazyStatic for $name {
            fn initialize(lazy: &Self) {
                let _ = &**lazy;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    crate::lazy_static! {
        /// Doc comments are allowed.
        static ref NUMBERS: Vec<u32> = {
            CALLS.fetch_add(1, Ordering::SeqCst);
            vec![1, 2, 3]
        };
        pub static ref NAME: String = "x".repeat(3);
        pub(crate) static ref NOT_SEND: std::sync::MutexGuard<'static, ()> = {
            static M: std::sync::Mutex<()> = std::sync::Mutex::new(());
            M.lock().unwrap()
        };
    }

    #[test]
    fn initialises_once_across_threads() {
        let handles: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| NUMBERS.iter().sum::<u32>()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 6);
        }
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(*NAME, "xxx");
        crate::initialize(&NAME);
    }
}

//! The host agent of bourse.

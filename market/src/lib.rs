//! Economics and shared infrastructure of bourse.

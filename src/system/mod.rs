//! Facts from the operating system, read here and handed to the core as plain data: the
//! interfaces (`interfaces`), and next routes, resolver configuration and processes. Also the
//! process's own relation to the OS: privileges (`privilege`), the one wall clock (`clock`) and
//! the one signal handler (`signals`), standard error while the dashboard owns the terminal
//! (`stderr`).

pub mod clock;
pub mod interfaces;
pub mod privilege;
pub mod processes;
pub mod resolver;
pub mod routes;
pub mod sandbox;
pub mod signals;
pub mod stderr;

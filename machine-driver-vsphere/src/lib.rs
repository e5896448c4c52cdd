//! `machine-driver-vsphere`: Docker hosts as VMs in vCenter (or on ESXi), through the vSphere
//! Web Services API (SOAP over HTTPS).
//!
//! A VM is cloned from a cloud-init ready template (`--vmwarevsphere-clone-from`) or created from
//! scratch booting an ISO; the machine's SSH key and hostname reach it through cloud-init's VMware
//! guestinfo. The driver keeps one vCenter session per vCenter and credentials for all the calls
//! its process serves, and no other state: everything about a machine is in its config.

pub mod datastore;
pub mod download;
pub mod driver;
pub mod guestinfo;
pub mod inventory;
pub mod options;
pub mod session;
pub mod soap;
pub mod vm;
pub mod xml;

pub use driver::VsphereDriver;

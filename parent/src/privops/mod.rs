//! Every way the daemon changes the machine lives here. Each operation is asked for by a
//! child naming a configuration object by id; the supervisor has already checked the id
//! against its own copy of the config, and these functions apply only what that object says.

pub mod addr;
pub mod ifinfo;
pub mod ipvs;
pub mod link;
pub mod lvs;
pub mod nft;
pub mod route;
pub mod sockets;
pub mod sysctl;

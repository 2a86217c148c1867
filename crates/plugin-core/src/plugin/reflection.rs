//! gRPC server reflection, as go-plugin plugins register it (since v1.2).

use tonic::service::Routes;

use crate::protocol::proto::PLUGIN_FILE_DESCRIPTOR_SET;

/// Adds gRPC reflection v1 and v1alpha (older grpcurl) for go-plugin's services,
/// health and the application's descriptor sets.
pub(crate) fn with_reflection(
    routes: Routes,
    app: &[&'static [u8]],
) -> Result<Routes, tonic_reflection::server::Error> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(PLUGIN_FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // Each builder adds its own version's descriptor; list both, as grpc-go does.
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            );
        for set in app {
            b = b.register_encoded_file_descriptor_set(set);
        }
        b
    };
    Ok(routes
        .add_service(builder().build_v1()?)
        .add_service(builder().build_v1alpha()?))
}

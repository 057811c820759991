//! The tonic services: thin adapters from gRPC calls to [`Replica`] streams, ended when the
//! server shuts down so that draining does not wait for streams that never end by themselves.

use futures::StreamExt;
use proto::cache as pb;
use tonic::{Request, Response, Status, Streaming};

use crate::replica::{Replica, WireStream};

/// Largest message either side accepts: a snapshot chunk stops growing at 1 MiB, but one
/// object alone may be larger (Kubernetes allows about 1.5 MiB).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Both services over one replica.
#[derive(Clone)]
pub struct Services {
    replica: Replica,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Services {
    /// The services of `replica`, ending their streams when `shutdown` turns true.
    pub fn new(replica: Replica, shutdown: tokio::sync::watch::Receiver<bool>) -> Services {
        Services { replica, shutdown }
    }

    fn until_shutdown<T: Send + 'static>(&self, stream: WireStream<T>) -> WireStream<T> {
        let mut shutdown = self.shutdown.clone();
        Box::pin(stream.take_until(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        }))
    }

    /// The publish service, ready to be called with HTTP requests.
    pub fn publish_server(&self) -> pb::publish_server::PublishServer<Services> {
        pb::publish_server::PublishServer::new(self.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The subscribe service, ready to be called with HTTP requests.
    pub fn subscribe_server(&self) -> pb::subscribe_server::SubscribeServer<Services> {
        pb::subscribe_server::SubscribeServer::new(self.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl pb::publish_server::Publish for Services {
    type PublishStream = WireStream<pb::PublishAck>;

    async fn publish(&self, request: Request<Streaming<pb::PublishRequest>>) -> Result<Response<Self::PublishStream>, Status> {
        Ok(Response::new(self.until_shutdown(self.replica.publish(request.into_inner()))))
    }
}

#[tonic::async_trait]
impl pb::subscribe_server::Subscribe for Services {
    type SubscribeStream = WireStream<pb::SubscribeEvent>;

    async fn subscribe(&self, request: Request<pb::SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        Ok(Response::new(self.until_shutdown(self.replica.subscribe(request.into_inner()))))
    }
}

//! The floor: a bare tokio WebSocket server with no presence at all. It answers `join`
//! with `ok` and otherwise only holds the socket, so its CPU and memory are what any
//! WebSocket server on this machine pays before doing anything useful.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub fn main(listen: &str) -> Result<(), String> {
    crate::shard::check_loopback(listen)?;
    crate::clock::raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = TcpListener::bind(listen).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("floor listening on ws://{addr}");
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(64 * 1024));
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(x) => x,
                // Out of files for a moment: back off rather than spin.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(text) = msg {
                        if text.as_str() == "join" && ws.send(Message::text("ok")).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    })
}

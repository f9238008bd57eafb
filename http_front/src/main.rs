use clap::Parser;
use http_front::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log_format == "json" {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    http_front::serve(config).await
}

//! The OpenAPI 3.1 documents of the three services, generated from the handlers' annotations
//! and the body types, so the spec cannot drift from the code.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::*;
use crate::error::{ErrorBody, ErrorDetail};

pub(crate) struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "TradAI backend-api", description = "Backtest, hyperopt and ML retraining jobs, every job's status, strategies, health. State-changing routes need `Authorization: Bearer <key>` once API keys exist."),
    paths(
        crate::backend::submit, crate::backend::status, crate::backend::list, crate::backend::cancel,
        crate::backend::trades, crate::backend::report,
        crate::backend::submit_hyperopt, crate::backend::hyperopt_status, crate::backend::list_hyperopt,
        crate::backend::cancel_hyperopt, crate::backend::hyperopt_config, crate::backend::hyperopt_epochs,
        crate::backend::hyperopt_heatmap, crate::retraining_api::submit_retraining, crate::retraining_api::retraining_status,
        crate::retraining_api::list_retraining, crate::backend::job_status, crate::backend::list_jobs, crate::backend::cancel_job,
        crate::backend::strategies, crate::backend::strategy, crate::backend::search_runs, crate::backend::run,
        crate::backend::health, crate::backend::ready, crate::backend::metrics, crate::trading_api::list_trading,
        crate::trading_proxy::node_status, crate::trading_proxy::stop_node, crate::trading_proxy::node_report,
        crate::dashboard::auth_status, crate::results_api::equity, crate::results_api::export, crate::results_api::trade_table,
        crate::results_api::loss, crate::results_api::backtest_best, crate::data_api::series, crate::data_api::sync,
        crate::registry_api::list_models, crate::registry_api::model, crate::registry_api::promote, crate::registry_api::rollback,
        crate::handlers_api::list_handlers
    ),
    components(schemas(
        ErrorBody, ErrorDetail, BacktestSubmission, StakeAmountInput, VersionInput, DateRange, SubmitResponse, BacktestStatus, JobErrorBody,
        BacktestPage, PageInfo, TradesResponse, HyperoptSubmission, JobView, JobPage, StrategyList, StrategyDetail, HealthResponse,
        ReadyResponse, CheckResult, crate::dto::TrackedRun, crate::trading_api::TradingNodeList, crate::handlers_api::HandlerRunList, crate::trading_proxy::NodeLiveStatus,
        crate::node_api::NodeStatusBody, crate::node_api::OpenTradeBody, crate::node_api::NodeProfit, crate::node_api::StopRequest,
        crate::node_api::CommandAnswer,
        crate::trading_api::TradingNodeView, crate::dashboard::AuthStatus, crate::results_api::TradeTable,
        crate::data_api::SeriesList, crate::data_api::SeriesView, SyncSubmission, crate::registry_api::ModelList,
        crate::registry_api::ModelSummary, crate::registry_api::ModelDetail, crate::registry_api::VersionView,
        crate::registry_api::ProductionView, crate::registry_api::RunSummary, crate::registry_api::PromoteRequest, crate::retraining_api::RetrainingSubmission
    )),
    modifiers(&BearerKey)
)]
struct BackendDoc;

#[derive(OpenApi)]
#[openapi(
    info(title = "TradAI data-collection", description = "Stored candle series, their freshness and validation; sync jobs from exchanges. State-changing routes need `Authorization: Bearer <key>` once API keys exist."),
    paths(
        crate::data_service::health,
        crate::data_service::symbols,
        crate::data_service::freshness,
        crate::data_service::validate,
        crate::data_service::submit_sync,
        crate::data_service::sync_status,
        crate::data_service::list_syncs,
        crate::data_service::cancel_sync
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        SyncSubmission,
        SubmitResponse,
        JobView,
        JobPage,
        PageInfo,
        JobErrorBody,
        HealthResponse,
        SymbolsResponse,
        SymbolInfo,
        FreshnessRequest,
        FreshnessResponse,
        SymbolFreshness,
        DataValidateRequest,
        DataValidateResponse,
        SeriesValidation
    )),
    modifiers(&BearerKey)
)]
struct DataDoc;

#[derive(OpenApi)]
#[openapi(
    info(title = "TradAI strategy-service", description = "Strategies, run validation and layered strategy configs."),
    paths(
        crate::strategy_service::health,
        crate::strategy_service::list,
        crate::strategy_service::registered_config,
        crate::strategy_service::detail,
        crate::strategy_service::validate,
        crate::strategy_service::prepare
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        HealthResponse,
        StrategyList,
        StrategyDetail,
        StrategyValidateRequest,
        StrategyValidateResponse,
        FieldProblem,
        PrepareConfigRequest,
        PreparedConfig
    ))
)]
struct StrategyDoc;

/// The backend-api document.
#[must_use]
pub fn backend() -> utoipa::openapi::OpenApi {
    BackendDoc::openapi()
}

/// The data-collection document.
#[must_use]
pub fn data_collection() -> utoipa::openapi::OpenApi {
    DataDoc::openapi()
}

/// The strategy-service document.
#[must_use]
pub fn strategy_service() -> utoipa::openapi::OpenApi {
    StrategyDoc::openapi()
}

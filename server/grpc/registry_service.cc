#include "server/grpc/registry_service.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/grpc/peer.h"
#include "server/grpc/status_util.h"

namespace gridserve::server {
namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

void ToProto(const registry::VersionRecord& r, gridserve::v1::ModelVersion* out) {
  out->set_model(r.model);
  out->set_version(r.version);
  out->set_created_at_unix_ms(r.created_at_ms);
  out->set_sha256(r.sha256);
  out->set_size_bytes(r.size_bytes);
  out->set_source(r.source);
  out->set_parent_version(r.parent_version);
  for (const auto& [k, v] : r.labels) (*out->mutable_labels())[k] = v;
  for (const auto& [k, v] : r.metrics) (*out->mutable_metrics())[k] = v;
}

absl::Status NeedStore(const repository::ModelManager& models) {
  if (models.store() == nullptr) return absl::FailedPreconditionError("no registry configured");
  return absl::OkStatus();
}

}  // namespace

absl::Status RegistryService::FillModel(const std::string& name,
                                        gridserve::v1::RegisteredModel* out) const {
  out->set_name(name);
  absl::StatusOr<std::vector<registry::VersionRecord>> records =
      models_->store()->ListVersions(name);
  if (!records.ok()) return records.status();
  std::map<std::string, int64_t> aliases = models_->Aliases(name);
  std::map<int64_t, std::vector<std::string>> aliases_by_version;
  for (const auto& [alias, version] : aliases) {
    (*out->mutable_aliases())[alias] = version;
    aliases_by_version[version].push_back(alias);
  }
  std::map<int64_t, repository::ModelManager::IndexEntry> serving;
  for (const auto& entry : models_->Index()) {
    if (entry.name == name) serving[entry.version] = entry;
  }
  for (const registry::VersionRecord& record : *records) {
    gridserve::v1::ModelVersion* version = out->add_versions();
    ToProto(record, version);
    auto state = serving.find(record.version);
    if (state != serving.end()) {
      version->set_state(std::string(repository::ModelStateName(state->second.state)));
      version->set_reason(state->second.reason);
    } else {
      version->set_state("UNAVAILABLE");
      version->set_reason("not loaded (version policy or control mode)");
    }
    for (const std::string& alias : aliases_by_version[record.version]) version->add_aliases(alias);
  }
  absl::StatusOr<registry::TrafficSplit> split = models_->GetTrafficSplit(name);
  if (split.ok()) {
    for (const auto& [version, weight] : *split) {
      gridserve::v1::TrafficSplitEntry* e = out->add_traffic_split();
      e->set_version(version);
      e->set_weight(weight);
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* RegistryService::ListModels(
    grpc::CallbackServerContext* ctx, const gridserve::v1::ListModelsRequest* request,
    gridserve::v1::ListModelsResponse* response) {
  if (absl::Status s = NeedStore(*models_); !s.ok()) return Finish(ctx, s);
  std::set<std::string> names;
  for (const auto& entry : models_->Index()) names.insert(entry.name);
  if (!request->name().empty()) {
    if (!names.count(request->name())) {
      return Finish(ctx,
                    absl::NotFoundError(absl::StrCat("unknown model '", request->name(), "'")));
    }
    names = {request->name()};
  }
  for (const std::string& name : names) {
    if (absl::Status s = FillModel(name, response->add_models()); !s.ok()) return Finish(ctx, s);
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* RegistryService::GetModelVersion(
    grpc::CallbackServerContext* ctx, const gridserve::v1::GetModelVersionRequest* request,
    gridserve::v1::GetModelVersionResponse* response) {
  if (absl::Status s = NeedStore(*models_); !s.ok()) return Finish(ctx, s);
  if (request->version().empty()) {
    return Finish(ctx, absl::InvalidArgumentError("GetModelVersion needs a version or alias"));
  }
  absl::StatusOr<int64_t> version =
      models_->ResolveVersionNumber(request->model(), request->version());
  if (!version.ok()) return Finish(ctx, version.status());
  gridserve::v1::RegisteredModel model;
  if (absl::Status s = FillModel(request->model(), &model); !s.ok()) return Finish(ctx, s);
  for (const auto& v : model.versions()) {
    if (v.version() == *version) {
      *response->mutable_version() = v;
      return Finish(ctx, absl::OkStatus());
    }
  }
  return Finish(ctx, absl::NotFoundError(
                         absl::StrCat("model '", request->model(), "' has no version ", *version)));
}

grpc::ServerUnaryReactor* RegistryService::SetAlias(grpc::CallbackServerContext* ctx,
                                                    const gridserve::v1::SetAliasRequest* request,
                                                    gridserve::v1::SetAliasResponse*) {
  if (absl::Status s = RequireLoopbackPeer(*ctx, "SetAlias"); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, models_->SetAlias(request->model(), request->alias(), request->version()));
}

grpc::ServerUnaryReactor* RegistryService::DeleteAlias(
    grpc::CallbackServerContext* ctx, const gridserve::v1::DeleteAliasRequest* request,
    gridserve::v1::DeleteAliasResponse*) {
  if (absl::Status s = RequireLoopbackPeer(*ctx, "DeleteAlias"); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, models_->DeleteAlias(request->model(), request->alias()));
}

grpc::ServerUnaryReactor* RegistryService::SetTrafficSplit(
    grpc::CallbackServerContext* ctx, const gridserve::v1::SetTrafficSplitRequest* request,
    gridserve::v1::SetTrafficSplitResponse*) {
  if (absl::Status s = RequireLoopbackPeer(*ctx, "SetTrafficSplit"); !s.ok()) {
    return Finish(ctx, s);
  }
  registry::TrafficSplit split;
  for (const auto& entry : request->split()) {
    if (!split.emplace(entry.version(), entry.weight()).second) {
      return Finish(ctx, absl::InvalidArgumentError(
                             absl::StrCat("version ", entry.version(), " appears twice")));
    }
  }
  return Finish(ctx, models_->SetTrafficSplit(request->model(), split));
}

grpc::ServerUnaryReactor* RegistryService::GetTrafficSplit(
    grpc::CallbackServerContext* ctx, const gridserve::v1::GetTrafficSplitRequest* request,
    gridserve::v1::GetTrafficSplitResponse* response) {
  absl::StatusOr<registry::TrafficSplit> split = models_->GetTrafficSplit(request->model());
  if (!split.ok()) return Finish(ctx, split.status());
  for (const auto& [version, weight] : *split) {
    gridserve::v1::TrafficSplitEntry* e = response->add_split();
    e->set_version(version);
    e->set_weight(weight);
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* RegistryService::SetVersionLabels(
    grpc::CallbackServerContext* ctx, const gridserve::v1::SetVersionLabelsRequest* request,
    gridserve::v1::SetVersionLabelsResponse*) {
  if (absl::Status s = RequireLoopbackPeer(*ctx, "SetVersionLabels"); !s.ok()) {
    return Finish(ctx, s);
  }
  std::map<std::string, std::string> labels(request->labels().begin(), request->labels().end());
  std::map<std::string, double> metrics(request->metrics().begin(), request->metrics().end());
  return Finish(ctx,
                models_->SetVersionLabels(request->model(), request->version(), labels, metrics));
}

}  // namespace gridserve::server

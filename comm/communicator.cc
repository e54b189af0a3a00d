#include <fmt/format.h>

#include <chrono>
#include <climits>
#include <stdexcept>

#include "comm/mpi_handles.h"
#include "comm/traffic.h"

namespace shardlm::comm {

void check_mpi(int code, const char* operation) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(fmt::format("MPI {} failed: {}", operation, std::string(text, static_cast<std::size_t>(length))));
}

namespace {

Traffic g_traffic;

// Adds the lifetime of one MPI call, and what it sends, to this process's traffic.
class Metered {
 public:
  explicit Metered(std::size_t bytes_sent) : start_(std::chrono::steady_clock::now()) {
    g_traffic.bytes_sent += bytes_sent;
    if (bytes_sent > 0) ++g_traffic.messages;
  }
  ~Metered() { g_traffic.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  Metered(const Metered&) = delete;
  Metered& operator=(const Metered&) = delete;

 private:
  std::chrono::steady_clock::time_point start_;
};

int count_of(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) throw std::length_error("message larger than MPI's int count");
  return static_cast<int>(n);
}

}  // namespace

Traffic traffic() { return g_traffic; }

PendingTransfer::PendingTransfer() : handle_(std::make_unique<Handle>()) {}
PendingTransfer::~PendingTransfer() = default;
PendingTransfer::PendingTransfer(PendingTransfer&&) noexcept = default;
PendingTransfer& PendingTransfer::operator=(PendingTransfer&&) noexcept = default;

void PendingTransfer::wait() {
  if (!handle_ || handle_->request == MPI_REQUEST_NULL) return;
  const Metered metered(0);
  check_mpi(MPI_Wait(&handle_->request, MPI_STATUS_IGNORE), "wait");
}

void make_progress() {
  int flag = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
}

void wait_all(std::vector<PendingTransfer>& transfers) {
  for (auto& transfer : transfers) transfer.wait();
  transfers.clear();
}

Communicator::Communicator(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {
  check_mpi(MPI_Comm_rank(handle_->comm, &rank_), "comm_rank");
  check_mpi(MPI_Comm_size(handle_->comm, &size_), "comm_size");
}

Communicator::~Communicator() {
  if (handle_ && handle_->owned && handle_->comm != MPI_COMM_NULL) MPI_Comm_free(&handle_->comm);
}

Communicator::Communicator(Communicator&&) noexcept = default;
Communicator& Communicator::operator=(Communicator&&) noexcept = default;

Communicator Communicator::split(int color, int key) const {
  auto handle = std::make_unique<Handle>();
  check_mpi(MPI_Comm_split(handle_->comm, color, key, &handle->comm), "comm_split");
  handle->owned = true;
  return Communicator(std::move(handle));
}

void Communicator::barrier() const {
  const Metered metered(0);
  check_mpi(MPI_Barrier(handle_->comm), "barrier");
}

void Communicator::all_reduce_sum(float* data, std::size_t n) const {
  if (size_ == 1) return;
  const Metered metered(n * sizeof(float));
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), MPI_FLOAT, MPI_SUM, handle_->comm), "allreduce");
}

void Communicator::all_reduce_max(double* data, std::size_t n) const {
  if (size_ == 1) return;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), MPI_DOUBLE, MPI_MAX, handle_->comm), "allreduce");
}

std::vector<double> Communicator::all_gather(double value) const {
  std::vector<double> values(static_cast<std::size_t>(size_));
  check_mpi(MPI_Allgather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, handle_->comm), "allgather");
  return values;
}

void Communicator::broadcast(std::string& bytes, int root) const {
  const Metered metered(rank_ == root ? bytes.size() : 0);
  unsigned long long length = bytes.size();
  check_mpi(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, handle_->comm), "broadcast");
  bytes.resize(length);
  check_mpi(MPI_Bcast(bytes.data(), count_of(length), MPI_CHAR, root, handle_->comm), "broadcast");
}

std::vector<std::string> Communicator::gather_text(const std::string& text, int root) const {
  const int length = count_of(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(size_));
  check_mpi(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, handle_->comm), "gather");
  std::vector<int> offsets(lengths.size(), 0);
  std::size_t total = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    offsets[i] = count_of(total);
    total += static_cast<std::size_t>(lengths[i]);
  }
  std::string joined(rank_ == root ? total : 0, '\0');
  check_mpi(MPI_Gatherv(text.data(), length, MPI_CHAR, joined.data(), lengths.data(), offsets.data(), MPI_CHAR, root,
                        handle_->comm),
            "gatherv");
  std::vector<std::string> texts;
  if (rank_ != root) return texts;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    texts.push_back(joined.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lengths[i])));
  }
  return texts;
}

void Communicator::gather(const float* data, std::size_t count, float* out, int root) const {
  const Metered metered(count * sizeof(float));
  check_mpi(MPI_Gather(data, count_of(count), MPI_FLOAT, out, count_of(count), MPI_FLOAT, root, handle_->comm),
            "gather");
}

void Communicator::send(const float* data, std::size_t n, int destination, int tag) const {
  const Metered metered(n * sizeof(float));
  check_mpi(MPI_Send(data, count_of(n), MPI_FLOAT, destination, tag, handle_->comm), "send");
}

void Communicator::receive(float* data, std::size_t n, int source, int tag) const {
  const Metered metered(0);
  check_mpi(MPI_Recv(data, count_of(n), MPI_FLOAT, source, tag, handle_->comm, MPI_STATUS_IGNORE), "receive");
}

PendingTransfer Communicator::send_async(const float* data, std::size_t n, int destination, int tag) const {
  const Metered metered(n * sizeof(float));
  PendingTransfer transfer;
  check_mpi(MPI_Isend(data, count_of(n), MPI_FLOAT, destination, tag, handle_->comm, &transfer.handle().request), "isend");
  return transfer;
}

PendingTransfer Communicator::receive_async(float* data, std::size_t n, int source, int tag) const {
  PendingTransfer transfer;
  check_mpi(MPI_Irecv(data, count_of(n), MPI_FLOAT, source, tag, handle_->comm, &transfer.handle().request), "irecv");
  return transfer;
}

}  // namespace shardlm::comm

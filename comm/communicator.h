#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shardlm::comm {

// A pending non-blocking transfer; waiting completes it. The buffer it names must stay alive until then.
class PendingTransfer {
 public:
  PendingTransfer();
  ~PendingTransfer();
  PendingTransfer(PendingTransfer&&) noexcept;
  PendingTransfer& operator=(PendingTransfer&&) noexcept;

  void wait();

  struct Handle;  // defined inside comm/ only
  Handle& handle() { return *handle_; }

 private:
  std::unique_ptr<Handle> handle_;
};

// A group of ranks that talk to each other: the world, a tensor-parallel group or a pipeline link.
// The only place that holds an MPI communicator; callers see plain C++ types.
class Communicator {
 public:
  ~Communicator();
  Communicator(Communicator&&) noexcept;
  Communicator& operator=(Communicator&&) noexcept;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Ranks with the same color form a new communicator, ordered by key.
  Communicator split(int color, int key) const;

  void barrier() const;
  void all_reduce_sum(float* data, std::size_t n) const;
  void all_reduce_max(double* data, std::size_t n) const;
  // Every rank's value, in rank order.
  std::vector<double> all_gather(double value) const;
  // Root's bytes reach every rank (the receivers' string is resized).
  void broadcast(std::string& bytes, int root) const;
  // Every rank's text, in rank order, on root (empty elsewhere).
  std::vector<std::string> gather_text(const std::string& text, int root) const;
  // Each rank contributes `count` floats; root receives them concatenated in rank order.
  void gather(const float* data, std::size_t count, float* out, int root) const;

  void send(const float* data, std::size_t n, int destination, int tag) const;
  void receive(float* data, std::size_t n, int source, int tag) const;
  PendingTransfer send_async(const float* data, std::size_t n, int destination, int tag) const;
  PendingTransfer receive_async(float* data, std::size_t n, int source, int tag) const;

  struct Handle;  // defined inside comm/ only
  explicit Communicator(std::unique_ptr<Handle> handle);

 private:
  std::unique_ptr<Handle> handle_;
  int rank_ = 0;
  int size_ = 1;
};

// Lets MPI advance transfers already started. Open MPI moves data only inside MPI calls, so a rank
// that computes for long between calls would otherwise hold up the ranks waiting for it.
void make_progress();

// Completes every transfer in the list.
void wait_all(std::vector<PendingTransfer>& transfers);

}  // namespace shardlm::comm

#include "comm/control_message.h"

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/vector.hpp>
#include <sstream>
#include <stdexcept>

namespace boost::serialization {

template <class Archive>
void serialize(Archive& archive, shardlm::comm::ControlMessage& message, const unsigned int /*version*/) {
  archive & message.kind;
  archive & message.model;
  archive & message.sequences;
  archive & message.tokens;
  archive & message.all_positions;
}

}  // namespace boost::serialization

namespace shardlm::comm {

std::string serialize(const ControlMessage& message) {
  std::ostringstream stream;
  {
    boost::archive::binary_oarchive archive(stream, boost::archive::no_header);
    archive << message;
  }
  return stream.str();
}

ControlMessage deserialize(const std::string& bytes) {
  std::istringstream stream(bytes);
  ControlMessage message;
  try {
    boost::archive::binary_iarchive archive(stream, boost::archive::no_header);
    archive >> message;
  } catch (const std::exception& error) {
    throw std::runtime_error(std::string("corrupt control message: ") + error.what());
  }
  return message;
}

}  // namespace shardlm::comm

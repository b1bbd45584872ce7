import streamlit as st
st.title('table')
st.info('coming soon')
